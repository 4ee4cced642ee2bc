import { POD_PORTS } from '../base/contracts/ports.js';
import net from 'node:net';
import { authorize } from '../authz/index.js';
import type { NetnsHandle } from '../net/index.js';
import type { RegisteredPod } from '../pods/index.js';
import { HboneServer } from '../tunnel/index.js';
import { HbonePool } from '../tunnel/index.js';
import { denials, revokedClosures } from '../../metrics/proxy.js';
import { ConnectionManager } from './connection-manager.js';
import { accessFields } from './access-log.js';
import type { LogFields } from '../telemetry/log.js';
import { DialGate } from './dial-gate.js';
import { InFlight } from './in-flight.js';
import { handshakeRevocationCheck, hostTarget, podTarget, type CaptureTarget, type PodContext, type ProxyDeps } from './context.js';
import { handleHboneStream, handlePlaintextInbound } from './inbound.js';
import { CERT_WAIT_MS, handleOutbound } from './outbound.js';

export type { ProxyDeps } from './context.js';

export type OpenConnection = { target: string; podUid: string; startedAt: string; ageMs: number } & LogFields;

/** The three listeners of one capture target (a pod, inside its netns; or the host). */
interface PodProxy {
  /** The pod's netns path; undefined for the host. */
  readonly netnsPath: string | undefined;
  readonly ctx: PodContext;
  readonly listeners: net.Server[];
  readonly hbone: HboneServer;
}

/**
 * The data plane of every registered pod: for each, outbound capture (15001), inbound
 * plaintext (15006) and inbound HBONE (15008) listening inside the pod netns; one HBONE
 * connection pool shared by all pods (its keys keep pods apart); and the connection manager
 * that re-checks inbound connections when policy changes.
 */
export class PodProxies {
  private readonly proxies = new Map<string, PodProxy>();
  /** Released pods whose open connections carry on; their policy is still enforced until they end. */
  private readonly releasing = new Map<string, PodProxy>();
  private readonly opening = new Map<string, Promise<void>>();
  private readonly pool = new HbonePool();
  readonly connections = new ConnectionManager();
  /** Handlers from accept to the end of their relay: what a graceful drain waits for. */
  private readonly inFlight = new InFlight();
  private readonly stopRotate: () => void;
  private readonly stopRevocations: () => void;

  constructor(private readonly deps: ProxyDeps) {
    // After a rotation, new streams go over new connections made with the new certificate.
    this.stopRotate = deps.certs.onRotate((id) => this.pool.retireIdentity(id));
    this.stopRevocations = deps.revocations.onChange(() => this.recheckRevocations());
  }

  /** Opens the pod's listeners; resolves once all three accept. Idempotent for the same netns. */
  async add(pod: RegisteredPod, netns: NetnsHandle): Promise<void> {
    await this.opening.get(pod.uid);
    const existing = this.proxies.get(pod.uid);
    if (existing && existing.netnsPath === pod.netns) return;
    if (existing) await this.remove(pod.uid);
    this.releasing.delete(pod.uid);
    const opening = this.open(podTarget(pod, this.deps.mesh), pod.netns, netns).then((proxy) => { this.proxies.set(pod.uid, proxy); });
    this.opening.set(pod.uid, opening);
    try {
      await opening;
    } finally {
      this.opening.delete(pod.uid);
    }
  }

  /**
   * Host-network mode: the capture listeners of the WorkloadEntries placed on `node`, bound in
   * the agent's own netns (`netns`); the workload of a connection is the one at its address.
   */
  async serveHost(node: string, netns: NetnsHandle): Promise<void> {
    const target = hostTarget(node, this.deps.mesh);
    this.proxies.set(target.uid, await this.open(target, undefined, netns));
  }

  private async open(target: CaptureTarget, netnsPath: string | undefined, netns: NetnsHandle): Promise<PodProxy> {
    const log = this.deps.log.child('capture', { target: target.label });
    const ctx: PodContext = { target, netns, deps: this.deps, pool: this.pool, connections: this.connections, dials: new DialGate(), log };
    const listeners: net.Server[] = [];
    try {
      // A bug in handling one connection must cost that connection, never the daemon.
      const server = (handler: (s: net.Socket) => Promise<void>) =>
        net.createServer({ allowHalfOpen: true }, (s) => {
          this.inFlight.run(handler(s)).catch((err: unknown) => {
            log.error('connection handler failed', { error: err });
            s.destroy();
          });
        });
      listeners.push(await netns.listen(POD_PORTS.outbound, { server: server((s) => handleOutbound(ctx, s)) }));
      listeners.push(await netns.listen(POD_PORTS.inboundPlaintext, { server: server((s) => handlePlaintextInbound(ctx, s)) }));
      const hboneListener = await netns.listen(POD_PORTS.inboundHbone);
      listeners.push(hboneListener);
      const hbone = new HboneServer(hboneListener, {
        trustDomain: this.deps.trustDomain,
        certificate: (local) => this.certificateAt(ctx, local),
        trustBundle: () => this.deps.certs.trustBundle(),
        checkRevocation: handshakeRevocationCheck(this.deps, 'destination'),
        onStream: (req) => {
          this.inFlight.run(handleHboneStream(ctx, req)).catch((err: unknown) => {
            log.error('hbone stream handler failed', { error: err });
            if (!req.stream.destroyed) req.stream.destroy(err instanceof Error ? err : new Error(String(err)));
          });
        },
        log,
      });
      log.info('capture listeners open', { ports: [POD_PORTS.outbound, POD_PORTS.inboundPlaintext, POD_PORTS.inboundHbone] });
      return { netnsPath, ctx, listeners, hbone };
    } catch (err) {
      for (const l of listeners) l.close();
      throw err;
    }
  }

  private certificateAt(ctx: PodContext, local: string | undefined) {
    const workload = ctx.target.local(local);
    if (!workload) return Promise.reject(new Error(ctx.target.absent(local)));
    return this.deps.certs.fetch(this.deps.mesh().identityOf(workload), CERT_WAIT_MS);
  }

  /** Closes the pod's listeners and every connection to or from it, at once. */
  async remove(uid: string): Promise<void> {
    await this.opening.get(uid)?.catch(() => undefined);
    this.closeNow(uid, 'pod removed');
  }

  /**
   * A pod leaving the mesh: its listeners close, its HBONE sessions get a GOAWAY, and its open
   * connections carry on until they end (a later remove() or shutdown closes what is left).
   */
  async release(uid: string): Promise<void> {
    await this.opening.get(uid)?.catch(() => undefined);
    const proxy = this.proxies.get(uid);
    if (!proxy) return;
    this.proxies.delete(uid);
    proxy.hbone.drain();
    for (const l of proxy.listeners) l.close();
    this.releasing.set(uid, proxy);
    this.pruneReleased();
  }

  private pruneReleased(): void {
    for (const uid of [...this.releasing.keys()]) if (this.connections.count(uid) === 0) this.releasing.delete(uid);
  }

  private closeNow(uid: string, reason: string): void {
    const proxy = this.proxies.get(uid) ?? this.releasing.get(uid);
    this.proxies.delete(uid);
    this.releasing.delete(uid);
    // Connections first, so their resets go out before the HBONE sessions are torn down.
    this.connections.closePod(uid, reason);
    if (proxy) {
      proxy.hbone.close();
      for (const l of proxy.listeners) l.close();
    }
  }

  /**
   * Every open proxied connection, described with the access log's fields (so a listing, the
   * log line at close and the metrics name the same parties), its pod and its age.
   */
  openConnections(): OpenConnection[] {
    const now = Date.now();
    return this.connections.all().map((c) => {
      const proxy = this.proxies.get(c.podUid) ?? this.releasing.get(c.podUid);
      return {
        target: proxy?.ctx.target.label ?? c.podUid, podUid: c.podUid, startedAt: new Date(c.trace.startedAt).toISOString(),
        ageMs: now - c.trace.startedAt, ...accessFields(c.trace.record(c.bytes())),
      };
    }).sort((a, b) => a.ageMs - b.ageMs);
  }

  /** Re-authorizes every open inbound connection and closes those the current policy denies. */
  recheckPolicies(): void {
    this.pruneReleased();
    const policies = this.deps.policies();
    for (const uid of this.connections.pods()) {
      const proxy = this.proxies.get(uid) ?? this.releasing.get(uid);
      for (const conn of this.connections.inbound(uid)) {
        if (!conn.attributes) continue;
        const workload = proxy?.ctx.target.local(conn.attributes.dstIp);
        if (!workload) { conn.close('policy-revoked: the workload is no longer in the mesh config'); continue; }
        const decision = authorize(policies, workload, conn.attributes);
        if (decision.allowed) continue;
        denials.inc({ direction: 'inbound', reason: 'policy-revoked' });
        conn.close(`policy-revoked: ${decision.reason}`);
      }
    }
  }

  /**
   * Closes at once what was established with a certificate the CRLs now revoke, and only that:
   * the proxied connections (so each access-log line says why), then their HBONE tunnels, both
   * served (15008) and dialled (the pool). As in ztunnel, only a positive revocation tears
   * down; a CRL that does not verify refuses new handshakes but leaves open tunnels alone.
   */
  recheckRevocations(): void {
    const revoked = (chain: readonly Buffer[]) => {
      const verdict = this.deps.revocations.check(chain);
      return verdict.status === 'revoked' ? verdict.why : undefined;
    };
    for (const uid of this.connections.pods()) {
      for (const conn of this.connections.of(uid)) {
        const why = conn.peerChain && revoked(conn.peerChain);
        if (!why) continue;
        denials.inc({ direction: conn.direction, reason: 'cert-revoked' });
        revokedClosures.inc({ kind: 'connection', direction: conn.direction });
        conn.close(`cert-revoked: ${why}`);
      }
    }
    let served = 0;
    for (const proxy of this.proxies.values()) served += proxy.hbone.closeRevoked(revoked);
    const dialled = this.pool.closeRevoked(revoked);
    if (served > 0) revokedClosures.inc({ kind: 'tunnel', direction: 'inbound' }, served);
    if (dialled > 0) revokedClosures.inc({ kind: 'tunnel', direction: 'outbound' }, dialled);
    if (served + dialled > 0) this.deps.log.warn('closed tunnels established with a revoked certificate', { served, dialled });
  }

  /**
   * Graceful drain (shutdown only; removing a pod stays immediate): every pod stops accepting on
   * 15001/15006/15008, HBONE sessions, served and pooled, get a GOAWAY so peers open no new
   * streams, and open connections carry on. Resolves once the last one has ended; `destroy()`
   * force-closes whatever is left when the deadline comes first.
   */
  async close(): Promise<void> {
    this.stopRotate();
    this.stopRevocations();
    await Promise.all([...this.opening.values()].map((p) => p.catch(() => undefined)));
    for (const proxy of this.proxies.values()) {
      proxy.hbone.drain();
      for (const l of proxy.listeners) l.close();
    }
    this.pool.drain();
    const open = this.connections.count();
    if (open > 0) this.deps.log.info('draining open connections', { connections: open });
    await this.inFlight.idle();
    this.destroy();
  }

  /** Closes every pod's listeners and connections at once; logs what was still open. */
  destroy(): void {
    this.stopRotate();
    this.stopRevocations();
    const open = this.connections.pods().map((uid) => ({ target: this.proxies.get(uid)?.ctx.target.label ?? uid, connections: this.connections.count(uid) }));
    if (open.length > 0) this.deps.log.warn('force-closing connections still open', { pods: open });
    for (const uid of [...this.proxies.keys(), ...this.releasing.keys()]) this.closeNow(uid, 'agent shutdown');
    this.pool.close();
  }
}
