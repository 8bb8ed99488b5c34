export * from './errors.js'
export * from './events.js'
export * from './manual-clock.js'
export * from './ports/index.js'
