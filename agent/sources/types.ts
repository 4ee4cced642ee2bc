/** Where a source stands, for readiness and the admin API. */
export interface SourceStatus {
  readonly name: string;
  /** What feeds it: a path, an address. */
  readonly origin: string;
  /** `starting` until the initial state is in the store; `error` while its last update was rejected. */
  readonly state: 'starting' | 'synced' | 'error';
  readonly lastAppliedAt?: string;
  readonly lastError?: string;
  /** Resources this source currently holds in the store. */
  readonly counts: { readonly workloads: number; readonly services: number; readonly policies: number };
}

/**
 * A feed of mesh state into the store: the local YAML config today, istiod or the Kubernetes
 * API next. `start()` resolves once the initial state is applied (readiness waits for it) and
 * rejects when there is none to serve; afterwards the source applies updates as they come and
 * keeps its last good state on bad input.
 */
export interface ConfigSource {
  readonly name: string;
  start(): Promise<void>;
  status(): SourceStatus;
  /** Stops watching and releases its resources; never waits for in-flight work. */
  close(): void;
}
