import { installHostRules, type HostCaptureSpec } from '../hostnet/index.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../telemetry/log.js';
import { hostCaptureSpec, type HostModeOptions } from './capture-spec.js';

export interface HostCaptureDeps {
  readonly node: string;
  readonly options: HostModeOptions;
  readonly state: StateStore;
  readonly stateDir: string;
  readonly agent: { readonly uid: number; readonly ports: readonly number[] };
  readonly log: Logger;
  /** Delay that gathers a burst of mesh changes into one re-install (default 200 ms). */
  readonly debounceMs?: number;
}

/**
 * Keeps the host capture rules in step with the mesh: installed once at start (a failure there
 * fails the start), then re-rendered after every change of workloads or services and
 * re-installed when the result differs. A failed re-install is logged and the rules installed
 * last keep working; the next change tries again. Closing never removes the rules: traffic to
 * captured ports must fail closed while the agent is down.
 */
export class HostCapture {
  private installed: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(private readonly deps: HostCaptureDeps) {}

  private spec(): HostCaptureSpec {
    return hostCaptureSpec(this.deps.node, this.deps.options, this.deps.state.snapshot(), this.deps.agent);
  }

  async start(): Promise<void> {
    await this.install(this.spec());
    this.unsubscribe = this.deps.state.subscribe((change) => {
      const touched = [change.workloads, change.services].some((k) => k.added.length + k.changed.length + k.removed.length > 0);
      if (touched) this.schedule();
    });
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(() => this.install(this.spec())).catch((err: unknown) => {
        this.deps.log.error('cannot update the host capture rules; the previous rules stay in force', { error: err });
      });
    }, this.deps.debounceMs ?? 200);
  }

  private async install(spec: HostCaptureSpec): Promise<void> {
    const key = JSON.stringify(spec);
    if (this.closed || key === this.installed) return;
    await installHostRules(spec, this.deps.stateDir);
    this.installed = key;
    this.deps.log.info('host capture rules installed', {
      inboundPorts: spec.inboundPorts, outbound: spec.outbound === '*' ? '*' : `${spec.outbound.length} destinations`,
      excludeInboundPorts: spec.excludeInboundPorts, excludeOutbound: spec.excludeOutbound, agentUid: spec.agentUid,
    });
  }

  /** Stops following the mesh; an install under way finishes. The rules stay in place. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    await this.running;
  }
}
