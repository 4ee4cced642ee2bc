import type { H2Headers, H2Stream } from '../h2/index.js';
import { HboneConnection } from './hbone-connection.js';
import { TunnelError } from './errors.js';
import { POOL_IDLE_RELEASE_MS, POOL_MAX_STREAMS } from './h2-settings.js';
import type { RevocationCheck } from './peer-chain.js';

/**
 * HBONE client connection pool, modelled on ztunnel's. Connections are shared only between
 * requests with the same key — source identity and certificate, source IP, destination
 * address and expected identities — so two pods never share a tunnel (ztunnel#886). A
 * connection takes at most 100 streams; then a new one is dialled. A connection without streams
 * for 5 minutes is released. After a certificate rotation, the key changes (it includes the
 * serial) and the old connections are retired: they take no new streams and close when drained.
 */
/** How many times one CONNECT is opened when the peer keeps refusing it unprocessed. */
const REFUSED_ATTEMPTS = 3;

export interface PoolKey {
  readonly sourceIdentity: string;
  readonly certSerial: string;
  readonly sourceIp: string;
  readonly peer: string;
  readonly expectedIdentities: readonly string[];
}

export function poolKeyString(k: PoolKey): string {
  return [k.sourceIdentity, k.certSerial, k.sourceIp, k.peer, [...k.expectedIdentities].sort().join(',')].join('|');
}

interface Entry {
  readonly sourceIdentity: string;
  conns: HboneConnection[];
  dialing: Promise<HboneConnection> | undefined;
}

export interface PoolOptions {
  readonly maxStreams?: number;
  readonly idleReleaseMs?: number;
}

export class HbonePool {
  private readonly entries = new Map<string, Entry>();
  private readonly maxStreams: number;
  private readonly idleMs: number;

  constructor(opts: PoolOptions = {}) {
    this.maxStreams = opts.maxStreams ?? POOL_MAX_STREAMS;
    this.idleMs = opts.idleReleaseMs ?? POOL_IDLE_RELEASE_MS;
  }

  /**
   * Opens a CONNECT stream on a pooled connection for `key`, dialling when none has room. A
   * stream the peer refused unprocessed (REFUSED_STREAM, as a GOAWAY that crossed the request
   * makes it) carried nothing yet, so it is opened again — on another connection once that one
   * is going away — up to REFUSED_ATTEMPTS times in all.
   */
  async stream(key: PoolKey, dial: () => Promise<HboneConnection>, authority: string,
    headers: H2Headers): Promise<H2Stream> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.open(poolKeyString(key), key.sourceIdentity, dial, authority, headers);
      } catch (err) {
        if (!(err instanceof TunnelError) || err.code !== 'ERR_TUNNEL_REFUSED' || attempt >= REFUSED_ATTEMPTS) throw err;
      }
    }
  }

  private async open(id: string, sourceIdentity: string, dial: () => Promise<HboneConnection>, authority: string,
    headers: H2Headers): Promise<H2Stream> {
    // The stream is opened in the same tick the connection is picked, so concurrent callers
    // woken by one dial cannot all squeeze onto a connection past its stream limit.
    for (;;) {
      const entry = this.entryFor(id, sourceIdentity);
      entry.conns = entry.conns.filter((c) => c.usable);
      const free = entry.conns.find((c) => c.hasRoom(this.maxStreams));
      if (free) return free.connect(authority, headers);
      entry.dialing ??= this.dialInto(id, entry, dial);
      await entry.dialing;
    }
  }

  private entryFor(id: string, sourceIdentity: string): Entry {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { sourceIdentity, conns: [], dialing: undefined };
      this.entries.set(id, entry);
    }
    return entry;
  }

  private dialInto(id: string, entry: Entry, dial: () => Promise<HboneConnection>): Promise<HboneConnection> {
    return dial().then((conn) => {
      this.adopt(id, entry, conn);
      return conn;
    }).finally(() => {
      entry.dialing = undefined;
      if (entry.conns.length === 0 && this.entries.get(id) === entry) this.entries.delete(id);
    });
  }

  private adopt(id: string, entry: Entry, conn: HboneConnection): void {
    entry.conns.push(conn);
    let idleTimer: NodeJS.Timeout | undefined;
    conn.onIdleChange = () => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = undefined;
      if (conn.streams > 0) return;
      idleTimer = setTimeout(() => {
        if (conn.streams === 0) this.release(id, entry, conn);
      }, this.idleMs);
      idleTimer.unref();
    };
    conn.session.once('close', () => {
      if (idleTimer) clearTimeout(idleTimer);
      this.release(id, entry, conn);
    });
  }

  private release(id: string, entry: Entry, conn: HboneConnection): void {
    entry.conns = entry.conns.filter((c) => c !== conn);
    conn.retire();
    if (entry.conns.length === 0 && !entry.dialing && this.entries.get(id) === entry) this.entries.delete(id);
  }

  /** Retires every connection of an identity (called on certificate rotation). */
  retireIdentity(sourceIdentity: string): void {
    for (const [id, entry] of this.entries) {
      if (entry.sourceIdentity !== sourceIdentity) continue;
      for (const c of entry.conns) c.retire();
      this.entries.delete(id);
    }
  }

  /** Tears down at once the connections whose server chain `check` now refuses; returns how many. */
  closeRevoked(check: RevocationCheck): number {
    let n = 0;
    for (const entry of this.entries.values()) {
      for (const c of entry.conns) {
        if (check(c.peerChain) === undefined) continue;
        c.destroy();
        n++;
      }
    }
    return n;
  }

  /** Number of live pooled connections (tests and admin). */
  get size(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.conns.length;
    return n;
  }

  /** Graceful: every connection gets a GOAWAY and takes no new streams; open streams finish. */
  drain(): void {
    for (const entry of this.entries.values()) for (const c of entry.conns) c.retire();
    this.entries.clear();
  }

  /** Tears down every connection and its streams at once. */
  close(): void {
    for (const entry of this.entries.values()) for (const c of entry.conns) c.destroy();
    this.entries.clear();
  }
}
