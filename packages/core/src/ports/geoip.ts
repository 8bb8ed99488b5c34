/** A localised name map, as MaxMind databases hold them (`{ en: 'Berlin', de: 'Berlin' }`). */
export type GeoNames = Readonly<Record<string, string>>

/** The MaxMind GeoIP2 City shape (the fields plugins read; others pass through). */
export interface City {
  city?: { geoname_id?: number; names?: GeoNames }
  continent?: { code?: string; geoname_id?: number; names?: GeoNames }
  country?: { geoname_id?: number; iso_code?: string; names?: GeoNames }
  location?: { accuracy_radius?: number; latitude?: number; longitude?: number; time_zone?: string }
  postal?: { code?: string }
  subdivisions?: ReadonlyArray<{ geoname_id?: number; iso_code?: string; names?: GeoNames }>
  [field: string]: unknown
}

/** Port: IP geolocation over a configured database. */
export interface GeoIp {
  /** The city record for `ip`, or null when the database has none. Rejects with `GeoIpError` on invalid input. */
  locate(ip: string): Promise<City | null>
}
