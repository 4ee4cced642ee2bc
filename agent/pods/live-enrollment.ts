import { setTimeout as sleep } from 'node:timers/promises';
import { bypassPod, capturePod, type CaptureOptions } from '../capture/index.js';
import type { Logger } from '../telemetry/log.js';
import { currentNetnsId } from './netns-id.js';
import type { RegisteredPod } from './registered-pod.js';
import type { Enrollment, PodRegistry } from './registry.js';
import type { PodStore, StoredPod } from './store.js';

export interface LiveEnrollmentDeps {
  readonly registry: PodRegistry;
  /** Pods running uncaptured on this node, persisted so an agent restart still knows them. */
  readonly observed: PodStore;
  readonly enrollment: (namespace: string, name: string) => Enrollment;
  readonly log: Logger;
}

/** meshnode-cni's defaults, for a pod reported by a plugin that sent no settings. */
const DEFAULT_CAPTURE: CaptureOptions = { hostProbeSnat: true };

const captureOf = (pod: RegisteredPod): CaptureOptions => pod.capture ?? DEFAULT_CAPTURE;

/**
 * How long a released pod's listeners stay open once its rules stop redirecting. A connection whose
 * SYN was redirected just before the rules changed completes its handshake in the kernel and waits in
 * the listener's accept queue; closing the listener before the event loop has accepted it resets it.
 */
const ACCEPT_DRAIN_MS = 100;

/**
 * Follows enrollment for pods that are already running: a pod that becomes enrolled is captured
 * (its listeners, then the in-pod rules `meshnode-cni` installs at ADD), a registered pod that is
 * no longer enrolled is released (its rules stop redirecting first, so new connections go straight
 * to the app, then its listeners close while open connections carry on). It knows every pod the plugin saw: registered
 * ones from the registry, uncaptured ones from the plugin's reports. Passes run one at a time;
 * a change during a pass runs another.
 */
export class LiveEnrollment {
  private readonly observed = new Map<string, StoredPod>();
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly deps: LiveEnrollmentDeps) {}

  /** Reloads the uncaptured pods, forgetting those whose netns is gone. */
  async restore(): Promise<number> {
    const { pods, problems } = await this.deps.observed.load();
    for (const p of problems) this.deps.log.warn('unreadable record of an uncaptured pod dropped', { file: p.file, reason: p.reason });
    for (const stored of pods) {
      if (currentNetnsId(stored.pod.netns) === stored.netnsId) this.observed.set(stored.pod.uid, stored);
      else await this.deps.observed.remove(stored.pod.uid);
    }
    return this.observed.size;
  }

  /** A pod the plugin left uncaptured; captured at once if it is enrolled by now. */
  async observe(pod: RegisteredPod): Promise<Enrollment> {
    const netnsId = currentNetnsId(pod.netns);
    const verdict = this.deps.enrollment(pod.namespace, pod.name);
    if (netnsId === undefined) return verdict;
    await this.deps.observed.save(pod, netnsId);
    this.observed.set(pod.uid, { pod, netnsId });
    this.schedule();
    return verdict;
  }

  async forget(uid: string): Promise<void> {
    this.observed.delete(uid);
    await this.deps.observed.remove(uid);
  }

  /** Runs a pass soon; called on every state change that may change an enrollment. */
  schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass().catch((err: unknown) => this.deps.log.error('live enrollment pass failed', { error: err }));
      } while (this.again);
      this.running = undefined;
    })();
  }

  /** Resolves once no pass is running or queued. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async pass(): Promise<void> {
    for (const stored of [...this.observed.values()]) {
      if (currentNetnsId(stored.pod.netns) !== stored.netnsId) await this.forget(stored.pod.uid);
      else if (this.deps.enrollment(stored.pod.namespace, stored.pod.name).enrolled) await this.capture(stored);
    }
    const bypassed: RegisteredPod[] = [];
    for (const pod of this.deps.registry.list()) {
      if (!this.deps.enrollment(pod.namespace, pod.name).enrolled && (await this.bypass(pod))) bypassed.push(pod);
    }
    if (bypassed.length === 0) return;
    // One wait for every pod of the pass, so un-labelling a namespace of many pods is not a wait each.
    await sleep(ACCEPT_DRAIN_MS);
    for (const pod of bypassed) await this.release(pod);
  }

  /**
   * Listeners first, rules second: a connection redirected before its listener exists would be
   * reset, one arriving before the rules simply goes to the app as before.
   */
  private async capture({ pod }: StoredPod): Promise<void> {
    const log = this.deps.log.child('capture', { uid: pod.uid, pod: `${pod.namespace}/${pod.name}` });
    try {
      await this.deps.registry.register(pod);
    } catch (err) {
      log.error('cannot serve the running pod; it stays outside the mesh until its next change', { error: err });
      return;
    }
    try {
      const { warnings } = await capturePod(pod, captureOf(pod));
      for (const w of warnings) log.warn('capture installed with a warning', { warning: w });
    } catch (err) {
      await this.deps.registry.unregister(pod.uid).catch((e: unknown) => log.error('closing the listeners after a failure failed', { error: e }));
      log.error('cannot capture the running pod; it stays outside the mesh until its next change', { error: err });
      return;
    }
    await this.forget(pod.uid);
    log.info('running pod enrolled: listening and captured');
  }

  /** Removes a leaving pod's redirects; false if they may still redirect, so its listeners stay. */
  private async bypass(pod: RegisteredPod): Promise<boolean> {
    try {
      await bypassPod(pod, captureOf(pod));
      return true;
    } catch (err) {
      this.releaseLog(pod).error('cannot remove the capture rules of a pod that left the mesh; it stays captured', { error: err });
      return false;
    }
  }

  /** Closes the listeners of a pod whose rules no longer redirect, and keeps it as observed. */
  private async release(pod: RegisteredPod): Promise<void> {
    const released = await this.deps.registry.release(pod.uid);
    const netnsId = released && currentNetnsId(released.netns);
    if (!released || netnsId === undefined) return;
    await this.deps.observed.save(released, netnsId);
    this.observed.set(released.uid, { pod: released, netnsId });
    this.releaseLog(pod).info('running pod left the mesh: new connections bypass capture, open connections carry on');
  }

  private releaseLog(pod: RegisteredPod): Logger {
    return this.deps.log.child('release', { uid: pod.uid, pod: `${pod.namespace}/${pod.name}` });
  }
}
