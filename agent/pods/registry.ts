import { POD_PORT_LIST } from '../base/contracts/ports.js';
import { existsSync, statSync } from 'node:fs';
import { NetnsError, netnsIdOf, openNetns as openRealNetns, type NetnsHandle } from '../net/index.js';
import type { Logger } from '../telemetry/log.js';
import { podsRestored, registeredPods } from '../../metrics/agent.js';
import { PodRegistrationError } from './errors.js';
import type { RegisteredPod } from './registered-pod.js';
import type { PodStore, StoredPod } from './store.js';
import { currentNetnsId } from './netns-id.js';

/** The per-pod proxies, as the registry needs them (PodProxies implements this). */
export interface PodListeners {
  /** Resolves once the pod's listeners accept connections. */
  add(pod: RegisteredPod, netns: NetnsHandle): Promise<void>;
  /** Closes the pod's listeners and connections at once. */
  remove(uid: string): Promise<void>;
  /** Closes the pod's listeners; its open connections carry on until they end. */
  release(uid: string): Promise<void>;
}

export interface Enrollment {
  readonly enrolled: boolean;
  readonly reason: string;
}

export interface PodRegistryDeps {
  readonly store: PodStore;
  readonly listeners: PodListeners;
  /** The mesh model's verdict, read at call time so config reloads apply. */
  readonly enrollment: (namespace: string, name: string) => Enrollment;
  readonly log: Logger;
  readonly openNetns?: (path: string) => NetnsHandle;
  /** Called after the set of registered pods changed (identities follow it). */
  readonly onChange?: () => void;
  /** How often pods whose netns vanished without a DEL are dropped (default 5 s). */
  readonly netnsSweepMs?: number;
  /** Id of the node's own netns, never accepted for a pod (default: the agent's, /proc/self/ns/net). */
  readonly nodeNetnsId?: string;
}


export interface PodState extends RegisteredPod {
  readonly listeners: readonly number[];
  readonly registeredAt: string;
}

interface Entry {
  readonly pod: RegisteredPod;
  readonly netns: NetnsHandle;
  readonly registeredAt: Date;
}

function samePod(a: RegisteredPod, b: RegisteredPod): boolean {
  return a.namespace === b.namespace && a.name === b.name && a.netns === b.netns
    && a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]);
}


/**
 * Pods registered by the CNI plugin: uid → pod, its open netns and its listeners. Operations on
 * one uid run one after another, so a repeated or concurrent ADD/DEL for the same pod is
 * idempotent. Every registration is persisted before it is acknowledged and reopened by
 * `restore()` after a restart.
 */
export class PodRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /**
   * Namespace id → uid of the pod whose listeners are (being) opened in it. Claimed synchronously
   * before the first await, so two pods registering one namespace at once cannot both pass.
   */
  private readonly claims = new Map<string, string>();
  private readonly openNetns: (path: string) => NetnsHandle;
  private readonly nodeNetnsId: string;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly deps: PodRegistryDeps) {
    this.openNetns = deps.openNetns ?? openRealNetns;
    this.nodeNetnsId = deps.nodeNetnsId ?? netnsIdOf(statSync('/proc/self/ns/net'));
    // A missed DEL (agent down, plugin crashed) must not keep a dead pod's listeners — and, through
    // their sockets, its network namespace — alive until the next restart.
    this.sweepTimer = setInterval(() => void this.sweep(), deps.netnsSweepMs ?? 5_000);
    this.sweepTimer.unref();
  }

  /** Unregisters every pod whose netns path no longer names the namespace it was opened in. */
  async sweep(): Promise<string[]> {
    const isGone = (e: Entry | undefined) => e !== undefined && currentNetnsId(e.pod.netns) !== e.netns.id;
    const dropped: string[] = [];
    for (const uid of [...this.entries.keys()].filter((u) => isGone(this.entries.get(u)))) {
      // Re-checked in the pod's queue: an ADD that re-registered it meanwhile wins.
      await this.serialize(uid, async () => {
        const entry = this.entries.get(uid);
        if (!entry || !isGone(entry)) return;
        await this.teardown(entry);
        await this.deps.store.remove(uid);
        this.deps.log.info('pod netns is gone; dropped the pod without a DEL', { uid, pod: `${entry.pod.namespace}/${entry.pod.name}`, netns: entry.pod.netns });
        dropped.push(uid);
        this.changed();
      }).catch((err: unknown) => this.deps.log.error('dropping a pod whose netns is gone failed', { uid, error: err }));
    }
    return dropped;
  }

  private serialize<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(uid) ?? Promise.resolve()).then(fn, fn);
    const tail = next.then(() => undefined, () => undefined);
    this.queues.set(uid, tail);
    void tail.then(() => { if (this.queues.get(uid) === tail) this.queues.delete(uid); });
    return next;
  }

  private changed(): void {
    registeredPods.set(this.entries.size);
    this.deps.onChange?.();
  }

  /**
   * Opens the pod's netns and listeners; PodRegistrationError says what went wrong. With
   * `expectedId` the path must still name that very namespace (restore after a restart).
   */
  private async open(pod: RegisteredPod, expectedId?: string): Promise<void> {
    let netns: NetnsHandle;
    try {
      netns = this.openNetns(pod.netns);
    } catch (err) {
      const missing = err instanceof NetnsError && err.reason === 'missing';
      throw new PodRegistrationError(missing ? 'netns-missing' : 'netns-invalid', (err as Error).message, err);
    }
    try {
      if (expectedId !== undefined && netns.id !== expectedId) {
        throw new PodRegistrationError('netns-invalid', `${pod.netns} now names a different network namespace`);
      }
      this.claim(pod, netns.id);
    } catch (err) {
      netns.close();
      throw err;
    }
    try {
      await this.deps.listeners.add(pod, netns);
    } catch (err) {
      await this.deps.listeners.remove(pod.uid).catch(() => undefined);
      this.unclaim(pod.uid, netns.id);
      netns.close();
      throw new PodRegistrationError('listeners-failed',
        `cannot open listeners for pod ${pod.namespace}/${pod.name}: ${(err as Error).message}`, err);
    }
    this.entries.set(pod.uid, { pod, netns, registeredAt: new Date() });
  }

  /**
   * A namespace serves one pod: a second pod's listeners there would share the ports (SO_REUSEPORT)
   * and take some of the first pod's connections under the wrong identity. Identity is dev:inode,
   * so another path to the same namespace (a bind mount, /proc/<pid>/ns/net) is caught too.
   */
  private claim(pod: RegisteredPod, id: string): void {
    if (id === this.nodeNetnsId) {
      throw new PodRegistrationError('netns-of-node', `${pod.netns} is the node's own network namespace, not a pod's; refusing to capture or serve it`);
    }
    const holder = this.claims.get(id);
    if (holder !== undefined && holder !== pod.uid) {
      const other = this.entries.get(holder)?.pod;
      throw new PodRegistrationError('netns-in-use',
        `network namespace ${pod.netns} is already registered to pod ${other ? `${other.namespace}/${other.name} ` : ''}(uid ${holder})`);
    }
    this.claims.set(id, pod.uid);
  }

  private unclaim(uid: string, id: string): void {
    if (this.claims.get(id) === uid) this.claims.delete(id);
  }

  private async teardown(entry: Entry): Promise<void> {
    this.entries.delete(entry.pod.uid);
    this.unclaim(entry.pod.uid, entry.netns.id);
    try {
      await this.deps.listeners.remove(entry.pod.uid);
    } finally {
      entry.netns.close();
    }
  }

  /**
   * Registers a pod; resolves only after its listeners are open and the registration is on
   * disk. Registering the same pod again changes nothing; a changed netns or IP list reopens it.
   * Past `deadlineMs` (the CNI plugin has given up and rolls the pod back) the registration is
   * refused, or undone if it was finished too late, so the agent never keeps a pod the plugin
   * reported as failed.
   */
  register(pod: RegisteredPod, deadlineMs?: number): Promise<{ changed: boolean }> {
    const late = (what: string) => {
      this.deps.log.warn(`pod registration ${what} after its deadline`, { uid: pod.uid, pod: `${pod.namespace}/${pod.name}`, deadline: new Date(deadlineMs!).toISOString() });
      return new PodRegistrationError('deadline-passed', `the registration of pod ${pod.namespace}/${pod.name} ${what} after the CNI plugin's deadline; nothing was kept`);
    };
    const overdue = () => deadlineMs !== undefined && Date.now() > deadlineMs;
    return this.serialize(pod.uid, async () => {
      if (overdue()) throw late('arrived');
      const verdict = this.deps.enrollment(pod.namespace, pod.name);
      if (!verdict.enrolled) {
        throw new PodRegistrationError('not-enrolled', `pod ${pod.namespace}/${pod.name} is not enrolled in the mesh: ${verdict.reason}`);
      }
      const existing = this.entries.get(pod.uid);
      if (existing && samePod(existing.pod, pod) && currentNetnsId(pod.netns) === existing.netns.id) return { changed: false };
      if (existing) await this.teardown(existing);
      await this.open(pod);
      try {
        await this.deps.store.save(pod, this.entries.get(pod.uid)!.netns.id);
      } catch (err) {
        await this.teardown(this.entries.get(pod.uid)!);
        throw new PodRegistrationError('listeners-failed', `cannot persist the registration: ${(err as Error).message}`, err);
      }
      if (overdue()) {
        await this.teardown(this.entries.get(pod.uid)!);
        await this.deps.store.remove(pod.uid);
        this.changed();
        throw late('finished');
      }
      this.deps.log.info('pod registered', { uid: pod.uid, pod: `${pod.namespace}/${pod.name}`, netns: pod.netns, ips: pod.ips, enrolled: verdict.reason });
      this.changed();
      return { changed: true };
    });
  }

  /** Unregisters a pod: listeners and connections close at once. Unknown uids are fine. */
  unregister(uid: string): Promise<{ removed: boolean }> {
    return this.serialize(uid, async () => {
      const entry = this.entries.get(uid);
      if (entry) await this.teardown(entry);
      await this.deps.store.remove(uid);
      if (!entry) return { removed: false };
      this.deps.log.info('pod unregistered', { uid, pod: `${entry.pod.namespace}/${entry.pod.name}` });
      this.changed();
      return { removed: true };
    });
  }

  /**
   * Forgets a pod that left the mesh while running: its listeners close, its open connections
   * carry on (their traffic no longer passes the capture rules the caller has removed).
   */
  release(uid: string): Promise<RegisteredPod | undefined> {
    return this.serialize(uid, async () => {
      const entry = this.entries.get(uid);
      if (!entry) return undefined;
      this.entries.delete(uid);
      this.unclaim(uid, entry.netns.id);
      try {
        await this.deps.listeners.release(uid);
      } finally {
        entry.netns.close();
      }
      await this.deps.store.remove(uid);
      this.deps.log.info('pod released from the mesh', { uid, pod: `${entry.pod.namespace}/${entry.pod.name}` });
      this.changed();
      return entry.pod;
    });
  }

  get(uid: string): PodState | undefined {
    const entry = this.entries.get(uid);
    return entry && { ...entry.pod, listeners: POD_PORT_LIST, registeredAt: entry.registeredAt.toISOString() };
  }

  list(): PodState[] {
    return [...this.entries.keys()].sort().map((uid) => this.get(uid)!);
  }

  /**
   * After a restart: reopens the listeners of every persisted pod whose netns still exists (the
   * same namespace, not merely the same path) and forgets the others. A pod whose listeners fail to open stays on disk for the next start.
   */
  async restore(): Promise<{ reopened: number; forgotten: number; failed: number }> {
    const { pods, problems } = await this.deps.store.load();
    for (const p of problems) this.deps.log.warn('unreadable pod registration dropped', { file: p.file, reason: p.reason });
    const counts = { reopened: 0, forgotten: 0, failed: 0 };
    await Promise.all(pods.map((stored) => this.serialize(stored.pod.uid, async () => {
      const result = await this.restoreOne(stored);
      counts[result]++;
      podsRestored.inc({ result });
    })));
    this.changed();
    return counts;
  }

  private async restoreOne({ pod, netnsId }: StoredPod): Promise<'reopened' | 'forgotten' | 'failed'> {
    const fields = { uid: pod.uid, pod: `${pod.namespace}/${pod.name}`, netns: pod.netns };
    if (!existsSync(pod.netns)) {
      await this.deps.store.remove(pod.uid);
      this.deps.log.info('forgot pod whose netns is gone', fields);
      return 'forgotten';
    }
    try {
      await this.open(pod, netnsId);
    } catch (err) {
      const gone = err instanceof PodRegistrationError && err.failure !== 'listeners-failed';
      if (gone) await this.deps.store.remove(pod.uid);
      this.deps.log.error(gone ? 'forgot pod whose netns is unusable' : 'cannot reopen pod listeners', { ...fields, error: err });
      return gone ? 'forgotten' : 'failed';
    }
    const verdict = this.deps.enrollment(pod.namespace, pod.name);
    if (!verdict.enrolled) this.deps.log.warn('reopened pod is no longer enrolled in the mesh config', { ...fields, reason: verdict.reason });
    this.deps.log.info('pod reopened', fields);
    return 'reopened';
  }

  /** Releases every netns handle; listeners are closed by their owner (PodProxies.close()). */
  close(): void {
    clearInterval(this.sweepTimer);
    for (const entry of this.entries.values()) entry.netns.close();
    this.entries.clear();
    this.claims.clear();
    registeredPods.set(0);
  }
}
