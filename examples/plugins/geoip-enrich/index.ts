// Enriches events with the location of the IP they came from, through `meta.geoip`. The server
// resolves the IP against its configured MaxMind City database; the plugin only maps fields.

interface City {
  city?: { names?: Record<string, string> }
  country?: { iso_code?: string; names?: Record<string, string> }
  continent?: { code?: string; names?: Record<string, string> }
  subdivisions?: Array<{ iso_code?: string; names?: Record<string, string> }>
  postal?: { code?: string }
  location?: { latitude?: number; longitude?: number; time_zone?: string; accuracy_radius?: number }
}

interface Event {
  ip?: string | null
  properties?: Record<string, unknown>
  $set?: Record<string, unknown>
  $set_once?: Record<string, unknown>
  [key: string]: unknown
}

interface Meta {
  config: { setOnPerson: 'yes' | 'no'; skipIps?: string }
  global: { skip: Set<string> }
  geoip: { locate(ip: string): Promise<City | null> }
}

export function setupPlugin({ config, global }: Meta) {
  global.skip = new Set(
    (config.skipIps ?? '')
      .split(',')
      .map((ip) => ip.trim())
      .filter(Boolean),
  )
}

/** The `$geoip_*` properties of a city record, without empty ones. */
export function locationProperties(city: City): Record<string, string | number> {
  const subdivision = city.subdivisions?.[0]
  const candidates: Record<string, string | number | undefined> = {
    $geoip_city_name: city.city?.names?.en,
    $geoip_country_name: city.country?.names?.en,
    $geoip_country_code: city.country?.iso_code,
    $geoip_continent_name: city.continent?.names?.en,
    $geoip_continent_code: city.continent?.code,
    $geoip_subdivision_1_name: subdivision?.names?.en,
    $geoip_subdivision_1_code: subdivision?.iso_code,
    $geoip_postal_code: city.postal?.code,
    $geoip_latitude: city.location?.latitude,
    $geoip_longitude: city.location?.longitude,
    $geoip_time_zone: city.location?.time_zone,
    $geoip_accuracy_radius: city.location?.accuracy_radius,
  }
  const properties: Record<string, string | number> = {}
  for (const [key, value] of Object.entries(candidates)) if (value !== undefined) properties[key] = value
  return properties
}

export async function processEvent(event: Event, { config, global, geoip }: Meta) {
  const ip = typeof event.properties?.$ip === 'string' ? event.properties.$ip : event.ip
  if (!ip || global.skip.has(ip) || event.properties?.$geoip_disable === true) return event
  let city: City | null
  try {
    city = await geoip.locate(ip)
  } catch (error) {
    console.warn(`not enriching event: ${(error as Error).message}`)
    return event
  }
  if (!city) return event
  const location = locationProperties(city)
  event.properties = { ...event.properties, ...location }
  if (config.setOnPerson === 'yes') {
    const initial = Object.fromEntries(
      Object.entries(location).map(([key, value]) => [`$initial_${key.slice(1)}`, value]),
    )
    event.$set = { ...event.$set, ...location }
    event.$set_once = { ...initial, ...event.$set_once }
  }
  return event
}
