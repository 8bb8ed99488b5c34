/** How a plugin metric aggregates (`export const metrics = { name: 'sum' }`). */
export type MetricOperation = 'sum' | 'max' | 'min'

/** One change to a plugin metric. */
export interface MetricUpdate {
  configId: number
  name: string
  operation: MetricOperation
  value: number
}

/** Port: plugin metrics (declared and automatic) per config. */
export interface MetricsSink {
  /** Applies the updates: `sum` adds (from 0), `max`/`min` keep the extreme (the first one sets it). */
  update(updates: readonly MetricUpdate[]): Promise<void>
  /** Current values of a config's metrics. */
  read(configId: number): Promise<Record<string, number>>
}
