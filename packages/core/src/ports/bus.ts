/** What a bus guarantees. */
export interface BusCapabilities {
  /** Messages reach subscribers in other processes. */
  sharedAcrossInstances: boolean
}

/** Stops a subscription. */
export type Unsubscribe = () => Promise<void>

/**
 * Port: cluster-wide change notices (a config changed, reload). Best-effort and at-most-once:
 * subscribers must tolerate missed notices by also reconciling periodically.
 */
export interface Bus {
  readonly capabilities: BusCapabilities
  /** Sends `message` to every current subscriber of `channel`, including the publisher's own. */
  publish(channel: string, message: string): Promise<void>
  /** Resolves once the subscription is active, so a publish after it is received. */
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>
}
