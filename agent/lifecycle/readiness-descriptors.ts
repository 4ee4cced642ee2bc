import { open } from 'node:fs/promises';
import type { Logger } from '../telemetry/log.js';

/**
 * The `descriptors` readiness condition: whether the process can still get file descriptors.
 * Node never reports a failing accept(): at EMFILE/ENFILE libuv accepts the pending connection
 * on a reserve descriptor and closes it at once, so a listener looks healthy while it drops
 * every connection. The probe therefore asks directly, by opening /dev/null once a second.
 * Hysteresis keeps one unlucky probe from flapping readiness: FAIL_AFTER failed probes in a row
 * make it fail, RECOVER_AFTER good ones in a row make it hold again.
 */
export const DESCRIPTOR_PROBE_INTERVAL_MS = 1_000;
export const FAIL_AFTER = 2;
export const RECOVER_AFTER = 5;

const EXHAUSTED = new Set(['EMFILE', 'ENFILE']);

export class DescriptorProbe {
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private failures = 0;
  private successes = 0;
  private failingSince: number | undefined;
  private code = '';

  constructor(private readonly log: Logger, private readonly path = '/dev/null') {}

  start(): void {
    this.timer = setInterval(() => void this.probe(), DESCRIPTOR_PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The condition: why descriptors are short, or undefined. */
  failure(): string | undefined {
    if (this.failingSince === undefined) return undefined;
    return `cannot create file descriptors (${this.code}) since ${new Date(this.failingSince).toISOString()}`;
  }

  /** One probe outcome: the errno code when descriptors were exhausted, else undefined. */
  record(exhausted: string | undefined, now: number): void {
    if (exhausted !== undefined) {
      this.successes = 0;
      this.code = exhausted;
      if (++this.failures >= FAIL_AFTER && this.failingSince === undefined) {
        this.failingSince = now;
        this.log.warn('file descriptors exhausted: not ready', { code: exhausted });
      }
      return;
    }
    this.failures = 0;
    if (this.failingSince !== undefined && ++this.successes >= RECOVER_AFTER) {
      this.log.info('file descriptors available again', { since: new Date(this.failingSince).toISOString() });
      this.failingSince = undefined;
      this.successes = 0;
    }
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    let exhausted: string | undefined;
    try {
      await (await open(this.path, 'r')).close();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      // Any other failure says nothing about descriptors; it is not this condition's business.
      if (EXHAUSTED.has(code)) exhausted = code;
    } finally {
      this.probing = false;
    }
    this.record(exhausted, Date.now());
  }
}
