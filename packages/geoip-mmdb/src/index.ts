export * from './build-mmdb.js'
