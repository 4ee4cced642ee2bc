import type net from 'node:net';
import type { ConnectionAttributes } from '../authz/index.js';
import type { ConnectionTrace } from './conn-trace.js';

/**
 * Every live proxied connection, by pod. Inbound connections keep the attributes they were
 * authorized with, so a policy change can re-evaluate them and close the ones now denied
 * (closed, not drained, as ztunnel does). Removing a pod closes all of its connections at once.
 */
export interface TrackedConnection {
  readonly podUid: string;
  readonly direction: 'inbound' | 'outbound';
  /** Inbound only: what authorization saw when the connection was admitted. */
  readonly attributes?: ConnectionAttributes;
  /** HBONE only: the chain the tunnel's peer presented, re-checked when CRLs change. */
  readonly peerChain?: readonly Buffer[] | undefined;
  /** The TCP sockets the agent holds for it (diagnostics: socket options, marks). */
  readonly sockets: readonly net.Socket[];
  /** Who is talking to whom, and since when (the admin API lists open connections). */
  readonly trace: ConnectionTrace;
  /** Bytes relayed so far, from the connecting side towards the destination and back. */
  bytes(): { downToUp: number; upToDown: number };
  /** Resets both ends; `reason` goes to the access log. */
  close(reason: string): void;
}

export class ConnectionManager {
  private readonly byPod = new Map<string, Set<TrackedConnection>>();

  /** Registers a connection; the returned function unregisters it (call on close). */
  track(conn: TrackedConnection): () => void {
    let set = this.byPod.get(conn.podUid);
    if (!set) {
      set = new Set();
      this.byPod.set(conn.podUid, set);
    }
    set.add(conn);
    return () => {
      const current = this.byPod.get(conn.podUid);
      current?.delete(conn);
      if (current?.size === 0) this.byPod.delete(conn.podUid);
    };
  }

  /** Live connections of a pod. */
  of(podUid: string): TrackedConnection[] {
    return [...(this.byPod.get(podUid) ?? [])];
  }

  /** Inbound connections of a pod with their admission attributes. */
  inbound(podUid: string): TrackedConnection[] {
    return [...(this.byPod.get(podUid) ?? [])].filter((c) => c.direction === 'inbound');
  }

  /** Every live connection of every pod. */
  all(): TrackedConnection[] {
    const out: TrackedConnection[] = [];
    for (const set of this.byPod.values()) out.push(...set);
    return out;
  }

  count(podUid?: string): number {
    if (podUid !== undefined) return this.byPod.get(podUid)?.size ?? 0;
    let n = 0;
    for (const s of this.byPod.values()) n += s.size;
    return n;
  }

  pods(): string[] {
    return [...this.byPod.keys()];
  }

  closePod(podUid: string, reason: string): void {
    for (const c of [...(this.byPod.get(podUid) ?? [])]) c.close(reason);
    this.byPod.delete(podUid);
  }
}
