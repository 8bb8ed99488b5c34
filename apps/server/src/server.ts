// The composition root: one adapter per port, chosen by the configuration, and the HTTP API over them.
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import {
  type Bus,
  type Cache,
  createSluiceRuntime,
  describeError,
  type GeoIp,
  type Lock,
  type QueueTransport,
  type SluiceRuntime,
} from '@sluice/core'
import { createMmdbGeoIp } from '@sluice/geoip-mmdb'
import { createHttpFetch } from '@sluice/http'
import { createMemoryCache, createMemoryLock, createMemoryQueue, createSystemClock } from '@sluice/memory'
import { createKafkaQueue } from '@sluice/queue-kafka'
import { createPubSubQueue } from '@sluice/queue-pubsub'
import { createIsolatedVmSandbox } from '@sluice/sandbox-isolated-vm'
import { createPostgresStore, type PostgresStore } from '@sluice/store-postgres'
import { createRedisStores, type RedisStores } from '@sluice/store-redis'
import { createAdminRoutes } from './admin/admin-api.js'
import { type AdminTokenCheck, loadAdminToken } from './admin-token.js'
import { type CaptureCounters, createCaptureRoutes } from './capture/capture-routes.js'
import { createFlagsRoutes } from './capture/flags-routes.js'
import type { ServerConfig } from './config.js'
import { createDrainableQueue } from './drain.js'
import { createHttpServer, type HttpServer } from './http/node-server.js'
import { createRouter } from './http/router.js'
import type { Route } from './http/types.js'
import type { Logger } from './logger.js'
import { createOpsRoutes } from './ops/ops-routes.js'
import { createSinks, kafkaConnection, pubsubConnection } from './sinks/create-sinks.js'

/** A running server. */
export interface SluiceServer {
  /** e.g. `http://127.0.0.1:8000`. */
  readonly url: string
  readonly instanceId: string
  readonly adminToken: AdminTokenCheck
  readonly runtime: SluiceRuntime
  /**
   * Graceful shutdown: refuse new requests, finish those in flight, drain the in-memory queue,
   * stop consuming (in-flight batches finish and commit), run teardowns, flush sinks and
   * telemetry, close every connection. Idempotent.
   */
  stop(): Promise<void>
}

/** Starts a server for `config`; rejects (after releasing what it opened) when an adapter cannot start. */
export async function startServer(config: ServerConfig, log: Logger): Promise<SluiceServer> {
  const clock = createSystemClock()
  const instanceId = config.instanceId ?? `${hostname()}-${process.pid}`
  const cleanups: (() => Promise<void>)[] = []
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error) => log.error('shutdown step failed', { error: describeError(error) }))
    }
  }
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
    const store: PostgresStore = await createPostgresStore(
      config.databaseUrl === null ? { dataDir: join(config.dataDir, 'pglite') } : { url: config.databaseUrl },
    )
    cleanups.push(() => store.close())

    let cache: Cache
    let lock: Lock
    let bus: Bus
    if (config.redisUrl !== null) {
      const redis: RedisStores = createRedisStores({
        url: config.redisUrl,
        onHandlerError: (error) =>
          log.error('config-change notice handler failed', { error: describeError(error) }),
      })
      cleanups.push(() => redis.close())
      ;({ cache, lock, bus } = redis)
    } else {
      cache = createMemoryCache({ clock })
      lock = createMemoryLock({ clock })
      bus = store.bus
      if (config.queue !== 'memory') {
        log.warn(
          'REDIS_URL is not set: the cache and the schedule lock live in this process, so run one instance only',
        )
      }
    }

    const onQueueError = (error: Error) =>
      log.error('queue consumer problem', { error: describeError(error) })
    const baseQueue: QueueTransport =
      config.queue === 'kafka'
        ? createKafkaQueue({
            ...kafkaConnection(config),
            sessionTimeoutMs: config.kafka.sessionTimeoutMs,
            consumers: config.kafka.consumers,
            onError: onQueueError,
          })
        : config.queue === 'pubsub'
          ? createPubSubQueue({ ...pubsubConnection(config), onError: onQueueError })
          : createMemoryQueue({ clock, maxWaitingRecords: config.memoryQueueMaxEvents })
    const queue = createDrainableQueue(baseQueue, config.ingestionTopic)
    cleanups.push(() => queue.close())

    const sinks = createSinks(config, store)
    cleanups.push(async () => {
      await Promise.all(sinks.map((sink) => sink.close()))
    })

    const sandbox = createIsolatedVmSandbox(config.pluginLimits)
    cleanups.push(() => sandbox.close())
    let geoip: GeoIp | undefined
    if (config.geoipDatabase !== null) geoip = await createMmdbGeoIp({ path: config.geoipDatabase })

    const runtime = createSluiceRuntime({
      clock,
      queue,
      sinks,
      cache,
      storage: store.storage,
      jobQueue: store.jobQueue,
      lock,
      bus,
      registry: store.registry,
      logSink: store.logSink,
      metricsSink: store.metricsSink,
      deadLetters: store.deadLetters,
      sandbox,
      fetch: createHttpFetch(config.pluginFetch),
      ...(geoip ? { geoip } : {}),
      ...(config.posthogApi.host !== null
        ? {
            posthogApi: {
              host: config.posthogApi.host,
              ...(config.posthogApi.personalApiKey !== null
                ? { personalApiKey: config.posthogApi.personalApiKey }
                : {}),
            },
          }
        : {}),
      instanceId,
      newUuid: randomUUID,
      ingestionTopic: config.ingestionTopic,
      consumerGroup: config.consumerGroup,
      maxBatchSize: config.maxBatchSize,
      onError: (error) => log.error('runtime problem', { error: describeError(error) }),
    })

    const adminToken = await loadAdminToken(config.adminToken, config.dataDir)
    let ready = false
    const captureCounters: CaptureCounters = { requests: 0, rejected: 0, eventsAccepted: 0 }
    const routes: Route[] = [
      ...createCaptureRoutes({
        queue,
        ingestionTopic: config.ingestionTopic,
        now: () => clock.now(),
        newUuid: randomUUID,
        teamOf: (token) => (config.projectTokens === null ? 1 : (config.projectTokens.get(token) ?? null)),
        counters: captureCounters,
      }),
      ...createFlagsRoutes(),
      ...createOpsRoutes({
        ready: () => ready,
        configs: () => runtime.configs.all(),
        counters: (id) => runtime.telemetry.counters(id),
        callLatency: (id) => runtime.telemetry.callLatency(id),
        queueLagMs: () => runtime.queueLagMs(),
        pluginMemory: () => sandbox.memoryUsage(),
        capture: captureCounters,
        instanceId,
      }),
      ...createAdminRoutes({
        verifyToken: adminToken.verify,
        tokenHint:
          config.adminToken === null
            ? 'the token was printed when the server first started with this data folder'
            : 'the token is the server setting SLUICE_ADMIN_TOKEN',
        registry: store.registry,
        logSink: store.logSink,
        metricsSink: store.metricsSink,
        deadLetters: store.deadLetters,
        jobQueue: store.jobQueue,
        announceConfigChange: () => runtime.announceConfigChange(),
        configs: runtime.configs,
        replayDeadLetters: (ids) => runtime.replayDeadLetters(ids),
        health: runtime.health,
        now: () => clock.now(),
      }),
    ]
    const router = createRouter(routes)

    await runtime.start()
    cleanups.push(() => runtime.stop())
    const http: HttpServer = await createHttpServer(
      {
        handle: router,
        maxBodyBytes: config.maxBodyBytes,
        onError: (error, request) =>
          log.error('request failed', {
            method: request.method,
            path: request.url.pathname,
            error: describeError(error),
          }),
      },
      { host: config.host, port: config.port },
    )
    ready = true
    log.info('listening', { url: http.url, queue: config.queue, sinks: sinks.map((sink) => sink.name) })

    let stopping: Promise<void> | null = null
    return {
      url: http.url,
      instanceId,
      adminToken,
      runtime,
      stop: () => {
        stopping ??= (async () => {
          ready = false
          log.info('shutting down')
          await http.close()
          if (!baseQueue.capabilities.durable) await queue.drain()
          await closeAll()
          log.info('stopped')
        })()
        return stopping
      },
    }
  } catch (error) {
    await closeAll()
    throw error
  }
}
