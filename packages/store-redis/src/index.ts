export {
  createRedisBus,
  type RedisBus,
  type RedisBusOptions,
  redisBusCapabilities,
} from './bus.js'
export {
  createRedisCache,
  type RedisCache,
  type RedisCacheOptions,
  redisCacheCapabilities,
} from './cache.js'
export { DEFAULT_REDIS_URL, type RedisConnectionOptions } from './connection.js'
export { classifyRedisError, type RedisErrorClass, type RedisFailure, redactUrl } from './errors.js'
export { createRedisLock, type RedisLock, type RedisLockOptions, redisLockCapabilities } from './lock.js'
export { createRedisStores, type RedisStores, type RedisStoresOptions } from './stores.js'
