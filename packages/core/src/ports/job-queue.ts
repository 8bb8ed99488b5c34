/** A job to enqueue. */
export interface NewJob {
  /**
   * What runs it: `plugin-job` (a plugin's `jobs.<name>`), or one of core's durable retries
   * (`setup-retry`, `on-event`, `on-snapshot`, `export-events`, `webhook`, and `compose-webhook`
   * for events that arrived while the config was paused).
   */
  kind: string
  /** The plugin config it belongs to, if any. */
  configId: number | null
  /** The job's name within its kind (the plugin job name, the function retried, …). */
  name: string
  /** JSON text. */
  payload: string
  /** Epoch ms when it becomes due. */
  runAt: number
  /**
   * Failed attempts so far.
   * @default 0
   */
  attempt?: number
}

/** A job as the queue holds it. */
export interface Job extends Required<NewJob> {
  /** Unique, assigned by the queue. */
  id: string
}

/** A request to hand out due jobs. */
export interface ClaimOptions {
  /** Epoch ms: jobs with `runAt <= now` are due. */
  now: number
  /** At most this many jobs. */
  limit: number
  /** The claimer; only it may settle the jobs while the lease lasts. */
  owner: string
  /**
   * How long the jobs stay leased: until `now + leaseMs`, compared with the `now` of later claims.
   * An unsettled job becomes claimable again after it (crash recovery); until another owner claims
   * it, the expired lease stays with its holder, so a slow job that finishes late still completes.
   */
  leaseMs: number
}

/** What a job queue guarantees. */
export interface JobQueueCapabilities {
  /** Jobs survive a restart of the server that enqueued them. */
  durable: boolean
  /** Several processes can claim from one queue without handing a job out twice. */
  sharedAcrossInstances: boolean
}

/**
 * Port: durable jobs, handed out in due-time order, each to exactly one claimer at a time.
 * Retries are rescheduled jobs, never in-memory sleeps.
 */
export interface JobQueue {
  readonly capabilities: JobQueueCapabilities
  /** Stores the jobs and returns their ids, in order. */
  enqueue(jobs: readonly NewJob[]): Promise<string[]>
  /** Leases up to `limit` due jobs, earliest `runAt` first, skipping leased jobs (the claimer's own too). */
  claim(options: ClaimOptions): Promise<Job[]>
  /** Removes a finished job. False when another owner has claimed the job since (it is not removed). */
  complete(id: string, owner: string): Promise<boolean>
  /** Releases a job to run again at `runAt` with the given attempt count. False when the lease was lost. */
  reschedule(id: string, owner: string, runAt: number, attempt: number): Promise<boolean>
  /** How many jobs are stored (due or not, leased or not). */
  count(): Promise<number>
}
