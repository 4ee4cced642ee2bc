import type { Logger } from '../telemetry/log.js';

/**
 * The one trigger for a graceful shutdown: SIGTERM, SIGINT or admin `/quitquitquit` all call
 * `trigger()`; whoever runs the agent awaits `requested`. A second SIGINT exits at once.
 */
export class ShutdownTrigger {
  readonly requested: Promise<string>;
  private resolveRequested!: (reason: string) => void;
  private reason: string | undefined;

  constructor() {
    this.requested = new Promise((resolve) => { this.resolveRequested = resolve; });
  }

  trigger(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.resolveRequested(reason);
  }

  get triggered(): boolean {
    return this.reason !== undefined;
  }
}

/** Routes SIGTERM/SIGINT to the trigger; returns a function removing the handlers. */
export function handleSignals(shutdown: ShutdownTrigger, log: Logger): () => void {
  const onTerm = () => {
    log.info('received SIGTERM, draining');
    shutdown.trigger('SIGTERM');
  };
  const onInt = () => {
    if (shutdown.triggered) {
      log.warn('second SIGINT, exiting immediately');
      process.exit(0);
    }
    log.info('received SIGINT, draining (again to exit immediately)');
    shutdown.trigger('SIGINT');
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
}
