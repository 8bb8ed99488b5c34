export * from './build-mmdb.js'
export * from './create-mmdb-geoip.js'
