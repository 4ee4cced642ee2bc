/**
 * Admission of one pod's upstream dials (HBONE stream → application), per peer identity. Each
 * CONNECT stream costs the application a TCP connection, and a peer can open streams far faster
 * than it pays for them — resetting each right after its HEADERS (rapid reset) costs it nothing.
 * So:
 *
 * - a dial starts no earlier than the next turn of the event loop, and not at all when the
 *   stream is gone by then: a RST_STREAM read together with its HEADERS lands first;
 * - at most `active` dials per peer identity are in flight (across all its sessions); further
 *   streams wait in order, and a stream reset while waiting leaves the queue without dialling;
 * - at most `waiting` streams per peer identity wait; beyond that a stream is refused at once.
 */
export const DIALS_PER_PEER = 32;
export const WAITING_DIALS_PER_PEER = 256;

export type Admission = { readonly release: () => void } | 'aborted' | 'full';

interface Waiter {
  readonly grant: () => void;
}

interface PeerDials {
  active: number;
  readonly waiting: Waiter[];
}

export class DialGate {
  private readonly peers = new Map<string, PeerDials>();

  constructor(private readonly limits = { active: DIALS_PER_PEER, waiting: WAITING_DIALS_PER_PEER }) {}

  /** A slot for one dial by `peer`; 'aborted' when `signal` fires first, 'full' when the queue is. */
  async acquire(peer: string, signal: AbortSignal): Promise<Admission> {
    await new Promise((resolve) => setImmediate(resolve));
    if (signal.aborted) return 'aborted';
    let dials = this.peers.get(peer);
    if (!dials) {
      dials = { active: 0, waiting: [] };
      this.peers.set(peer, dials);
    }
    if (dials.active < this.limits.active) return this.take(peer, dials);
    if (dials.waiting.length >= this.limits.waiting) return 'full';
    const queued = dials;
    return new Promise<Admission>((resolve) => {
      const waiter: Waiter = { grant: () => { signal.removeEventListener('abort', onAbort); resolve(this.take(peer, queued)); } };
      const onAbort = () => {
        queued.waiting.splice(queued.waiting.indexOf(waiter), 1);
        this.forget(peer, queued);
        resolve('aborted');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queued.waiting.push(waiter);
    });
  }

  /** Dials in flight and streams waiting for `peer` (tests and admin). */
  load(peer: string): { active: number; waiting: number } {
    const dials = this.peers.get(peer);
    return { active: dials?.active ?? 0, waiting: dials?.waiting.length ?? 0 };
  }

  private take(peer: string, dials: PeerDials): Admission {
    dials.active++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        dials.active--;
        const next = dials.waiting.shift();
        if (next) next.grant();
        else this.forget(peer, dials);
      },
    };
  }

  private forget(peer: string, dials: PeerDials): void {
    if (dials.active === 0 && dials.waiting.length === 0 && this.peers.get(peer) === dials) this.peers.delete(peer);
  }
}
