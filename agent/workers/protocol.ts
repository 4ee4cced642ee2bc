import type { SpiffeId } from '../base/spiffe-id.js';
import type { MeshSettings } from '../model/types.js';
import type { RegisteredPod } from '../pods/index.js';
import type { StateBatch } from '../state/types.js';
import type { LevelSettings } from '../telemetry/log.js';
import type { TunnelCert } from '../tunnel/index.js';
import type { RevocationSource } from '../identity/index.js';

/**
 * The messages between the main thread and a data-plane worker thread. Everything the worker
 * decides with — mesh state, certificates, trust bundle, CRLs, log levels — reaches it as a copy
 * the main thread pushes; the worker never asks the control plane anything but a certificate it
 * does not have yet. One port carries all of it in order, so a pod is added only after the
 * state that names it.
 */

/** `workerData` of a worker thread. */
export interface WorkerSetup {
  /** 1-based; the main thread is data-plane loop 0. */
  readonly index: number;
  readonly settings: MeshSettings;
  readonly trustDomain: string;
  readonly levels: LevelSettings;
}

/** Commands the main thread waits on; the worker answers each with a `reply` of the same `seq`. */
export type Command =
  | { readonly type: 'add-pod'; readonly pod: RegisteredPod; readonly netnsPath: string; readonly netnsId: string }
  | { readonly type: 'serve-host'; readonly node: string }
  | { readonly type: 'remove-pod'; readonly uid: string }
  | { readonly type: 'release-pod'; readonly uid: string }
  | { readonly type: 'connections' }
  | { readonly type: 'count' }
  | { readonly type: 'metrics' }
  | { readonly type: 'drain' };

/** Updates the main thread pushes without waiting. */
export type Update =
  | { readonly type: 'state'; readonly batch: StateBatch }
  | { readonly type: 'cert'; readonly cert: TunnelCert; readonly rotated: boolean }
  | { readonly type: 'cert-failed'; readonly id: SpiffeId; readonly message: string }
  | { readonly type: 'trust'; readonly bundle: readonly string[] }
  | { readonly type: 'crls'; readonly bundle: readonly string[]; readonly sources: readonly { source: RevocationSource; ders: readonly Uint8Array[] }[] }
  | { readonly type: 'log'; readonly levels: LevelSettings }
  | { readonly type: 'destroy' };

export type ToWorker = Update | (Command & { readonly seq: number });

/** An error as it crosses the thread boundary: the class is lost, the code and message are not. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'reply'; readonly seq: number; readonly value?: unknown; readonly error?: WireError }
  | { readonly type: 'want-cert'; readonly id: SpiffeId }
  /** The worker could not take an update it must enforce (a CRL): the agent must not go on. */
  | { readonly type: 'fatal'; readonly message: string };

export function wireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
}
