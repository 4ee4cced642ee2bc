import { parseCrl } from '../base/crl.js';
import { Status, type GrpcError } from '../grpc/index.js';
import type { Logger } from '../telemetry/log.js';
import { decodeRevocationUpdate } from './ca-messages.js';
import type { CaClient } from './ca-client.js';
import type { Revocations } from './revocations.js';

/**
 * The agent's subscription to the CA's revocation push (MeshnodeRevocationService, on the
 * certificate manager's own channel): each update's CRL replaces the `ca` source of the
 * revocations in force. The call is reopened after it ends or fails, 1 s doubling to 30 s; a CA
 * without the method (istiod) is asked again only every 5 minutes.
 */

const RETRY_MS = { initial: 1_000, max: 30_000 } as const;
const UNSUPPORTED_RETRY_MS = 300_000;

export class CaRevocationFeed {
  private call: { cancel(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number = RETRY_MS.initial;
  private closed = false;

  constructor(private readonly client: CaClient, private readonly target: Revocations, private readonly log: Logger) {}

  start(): void {
    void this.open();
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    let stream;
    try {
      stream = await this.client.watchRevocations();
    } catch (err) {
      this.retry(this.delay, `cannot open the revocation watch: ${(err as Error).message}`);
      return;
    }
    if (this.closed) { stream.cancel(); return; }
    this.call = stream;
    stream.on('message', (message: Buffer) => {
      this.delay = RETRY_MS.initial;
      this.apply(message);
    });
    stream.on('error', (err: GrpcError) => {
      if (err.status === Status.CANCELLED && this.closed) return;
      const unsupported = err.status === Status.UNIMPLEMENTED || err.status === Status.FAILED_PRECONDITION;
      this.retry(unsupported ? UNSUPPORTED_RETRY_MS : this.delay, `revocation watch ended: ${err.message}`);
    });
    stream.on('end', () => this.retry(this.delay, 'revocation watch ended by the CA'));
  }

  private apply(encoded: Buffer): void {
    let number = 'unknown';
    try {
      const update = decodeRevocationUpdate(encoded);
      number = update.crlNumber.toString();
      const crl = parseCrl(update.crl);
      this.target.set('ca', [crl]);
      this.log.info('CRL from the CA applied', { number, revoked: crl.revoked.size });
    } catch (err) {
      const message = `CRL ${number} from the CA: ${(err as Error).message}`;
      this.target.failed('ca', message);
      this.log.error('CRL from the CA rejected; the last good one stays in force', { error: message });
    }
  }

  private retry(delayMs: number, why: string): void {
    if (this.closed || this.timer) return;
    this.call = undefined;
    this.log.debug('revocation watch will reopen', { why, inMs: delayMs });
    this.delay = Math.min(this.delay * 2, RETRY_MS.max);
    this.timer = setTimeout(() => { this.timer = undefined; void this.open(); }, delayMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.call?.cancel();
  }
}
