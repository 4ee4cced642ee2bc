import type net from 'node:net';
import { authorize, type ConnectionAttributes, type Decision } from '../authz/index.js';
import { canonicalIp } from '../base/ip.js';
import type { Workload } from '../model/types.js';
import { originalDst, TransparentBindError } from '../net/index.js';
import { formatAuthority, forwardedSourcePort, type SocketAddress } from '../tunnel/index.js';
import { POD_PORT_SET } from '../base/contracts/ports.js';
import { answerable, H2Stream, respondError, tunnelPeerChain, type InboundStream } from '../tunnel/index.js';
import { UPSTREAM_CONNECT_TIMEOUT_MS } from '../tunnel/index.js';
import { ConnectionTrace } from './conn-trace.js';
import { inboundService } from './inbound-service.js';
import { WAITING_DIALS_PER_PEER } from './dial-gate.js';
import { addrText, type PodContext } from './context.js';
import { relay, resetEnd, socketsOf } from './relay.js';
import { connectCounted } from './upstream-connect.js';

/**
 * Inbound traffic of a pod: HBONE streams (15008, peer identity from mTLS) and redirected
 * plaintext (15006, no identity — STRICT PeerAuthentication denies it). Both are authorized
 * against the pod's workload, then connected to the application from inside the pod netns
 * (marked, so the pod's rules let it through) with the client's IP as source, so the application
 * sees who called, as with ztunnel. HBONE answers 401 on denial, 503 when the application
 * cannot be reached, and 200 only after both succeeded.
 */
export async function handleHboneStream(ctx: PodContext, req: InboundStream): Promise<void> {
  const mesh = ctx.deps.mesh();
  const workload = ctx.target.local(req.target.ip);
  const local = req.stream.session.socket.localAddress;
  const trace = new ConnectionTrace({
    direction: 'inbound',
    src: { addr: addrText(req.source.ip, req.source.port), identity: req.peer.id, workload: mesh.workloadByIp(req.source.ip) },
    dst: { addr: addrText(canonicalIp(local ?? ''), 15008), hboneAddr: formatAuthority(req.target), workload, identity: workload && mesh.identityOf(workload) },
  }).secure();
  if (!workload) {
    respondError(req.stream, 503);
    trace.refused('unknown-destination', ctx.target.absent(req.target.ip), 'CONNECT');
    return;
  }
  trace.start.dst.service = inboundService(mesh, workload, req.headers.forwarded, req.target.port);
  const attributes: ConnectionAttributes = { identity: req.peer.id, srcIp: req.source.ip, dstIp: req.target.ip, dstPort: req.target.port };
  if (!admit(ctx, workload, attributes, trace)) {
    respondError(req.stream, 401);
    return;
  }
  const admission = await ctx.dials.acquire(req.peer.id, req.signal);
  if (admission === 'full') {
    respondError(req.stream, 503);
    trace.refused('dial-limit', `${WAITING_DIALS_PER_PEER} streams of ${req.peer.id} already wait for an upstream connection`, 'CONNECT');
    return;
  }
  if (admission === 'aborted' || !answerable(req.stream)) {
    if (typeof admission === 'object') admission.release();
    trace.finish({ downToUp: 0, upToDown: 0, error: RESET_BEFORE_UPSTREAM });
    return;
  }
  const upstream = await dialForStream(ctx, req, admission.release);
  if (typeof upstream === 'string') {
    respondError(req.stream, 503);
    trace.finish({ downToUp: 0, upToDown: 0, error: upstream, flag: 'CONNECT' });
    return;
  }
  if (!answerable(req.stream)) {
    upstream.destroy();
    trace.finish({ downToUp: 0, upToDown: 0, error: RESET_BEFORE_UPSTREAM });
    return;
  }
  req.stream.respond({ ':status': '200' });
  await carry(ctx, req.stream, upstream, attributes, trace);
}

export async function handlePlaintextInbound(ctx: PodContext, client: net.Socket): Promise<void> {
  client.on('error', () => { /* handled by the relay, or the connection is being refused */ });
  const dst = originalDst(client);
  const clientIp = canonicalIp(client.remoteAddress ?? '');
  const srcIp = clientIp ?? 'unknown';
  const mesh = ctx.deps.mesh();
  const workload = ctx.target.local(dst?.address);
  const trace = new ConnectionTrace({
    direction: 'inbound',
    src: { addr: addrText(srcIp, client.remotePort), workload: mesh.workloadByIp(srcIp) },
    dst: { addr: dst ? addrText(dst.address, dst.port) : 'unknown', workload, identity: workload && mesh.identityOf(workload) },
  });
  const refuse = (...args: Parameters<ConnectionTrace['refused']>) => { trace.refused(...args); resetEnd(client); };
  if (!dst) return refuse('no-original-destination', 'connection has no original destination');
  if (POD_PORT_SET.has(dst.port)) return refuse('loop', `destination port ${dst.port} is a data-plane port`);
  if (!workload) return refuse('unknown-destination', ctx.target.absent(dst.address), 'CONNECT');
  trace.start.dst.service = inboundService(mesh, workload, undefined, dst.port);
  const attributes: ConnectionAttributes = { srcIp, dstIp: dst.address, dstPort: dst.port };
  if (!admit(ctx, workload, attributes, trace)) return resetEnd(client);
  // Not the client's port: its own connection is in this netns's conntrack with that very
  // 4-tuple (redirected to 15006), and a second one would be taken for it.
  const upstream = await connectUpstream(ctx, { ip: dst.address, port: dst.port }, { ip: clientIp });
  if (typeof upstream === 'string') {
    trace.finish({ downToUp: 0, upToDown: 0, error: upstream, flag: 'CONNECT' });
    return resetEnd(client);
  }
  await carry(ctx, client, upstream, attributes, trace);
}

function admit(ctx: PodContext, workload: Workload, attributes: ConnectionAttributes, trace: ConnectionTrace): boolean {
  const decision: Decision = authorize(ctx.deps.policies(), workload, attributes);
  trace.decision = decision.code;
  if (!decision.allowed) trace.refused(denialReason(decision), decision.reason);
  return decision.allowed;
}

function denialReason(d: Decision): 'deny-matched' | 'peer-authn-strict' | 'no-allow-policies' | 'no-allow-matched' {
  return d.code === 'allow-matched' ? 'no-allow-matched' : d.code;
}

/**
 * The caller as the application should see it. For HBONE the port is the client's own, the one
 * the `forwarded` header names for the same IP: the client's kernel made that 4-tuple unique in
 * the client's netns, so heavy churn from one client costs this netns no port search.
 */
interface Client {
  readonly ip: string | undefined;
  readonly port?: number | undefined;
}

let transparentFailureLogged = false;

/**
 * Connects from the client's IP when that can be done: same family as the destination and not
 * the destination itself (ztunnel never spoofs then). When the transparent bind is refused the
 * connection still goes ahead from the pod's own address; that is logged once per process.
 */
async function connectFrom(ctx: PodContext, to: SocketAddress, client: Client): Promise<net.Socket> {
  const plain = { timeoutMs: UPSTREAM_CONNECT_TIMEOUT_MS };
  const clientIp = client.ip;
  const spoof = ctx.target.preserveClientIp && clientIp !== undefined && clientIp !== to.ip && clientIp.includes(':') === to.ip.includes(':');
  if (!spoof) return connectCounted(ctx.netns, 'inbound', to.ip, to.port, plain);
  try {
    return await connectCounted(ctx.netns, 'inbound', to.ip, to.port, { ...plain, localAddress: clientIp, localPort: client.port, transparent: true });
  } catch (err) {
    if (!(err instanceof TransparentBindError)) throw err;
    if (!transparentFailureLogged) {
      transparentFailureLogged = true;
      ctx.log.warn('cannot preserve client addresses: applications see inbound connections from their own pod IP', { error: err.message });
    }
    return connectCounted(ctx.netns, 'inbound', to.ip, to.port, plain);
  }
}

const RESET_BEFORE_UPSTREAM = 'client reset the stream before the upstream connected';

/**
 * The stream's dial to the application, given up as soon as the stream is reset: the handler
 * moves on at once, the socket is closed the moment it exists, and the dial keeps its slot
 * (`release`) until then, since until then it still holds a connection attempt.
 */
function dialForStream(ctx: PodContext, req: InboundStream, release: () => void): Promise<net.Socket | string> {
  // The TCP peer of 15008 is the source pod itself: HBONE crosses no NAT.
  const dial = connectUpstream(ctx, req.target, { ip: req.source.ip, port: forwardedSourcePort(req.headers.forwarded, req.source.ip) });
  return new Promise((resolve) => {
    const onAbort = () => resolve(RESET_BEFORE_UPSTREAM);
    req.signal.addEventListener('abort', onAbort, { once: true });
    void dial.then((upstream) => {
      release();
      req.signal.removeEventListener('abort', onAbort);
      if (req.signal.aborted && typeof upstream !== 'string') upstream.destroy();
      resolve(upstream);
    });
  });
}

/** Connects to the application from the pod netns; the error text when that fails. */
async function connectUpstream(ctx: PodContext, to: SocketAddress, client: Client): Promise<net.Socket | string> {
  try {
    return await connectFrom(ctx, to, client);
  } catch (err) {
    return `upstream connect to ${formatAuthority(to)} failed: ${(err as Error).message}`;
  }
}

async function carry(ctx: PodContext, down: net.Socket | H2Stream, upstream: net.Socket,
  attributes: ConnectionAttributes, trace: ConnectionTrace): Promise<void> {
  let closedBy: string | undefined;
  const untrack = ctx.connections.track({
    podUid: ctx.target.uid, direction: 'inbound', attributes, sockets: socketsOf(down, upstream), trace,
    peerChain: down instanceof H2Stream ? tunnelPeerChain(down) : undefined,
    bytes: () => ({ downToUp: upstream.bytesWritten, upToDown: upstream.bytesRead }),
    close: (reason) => { closedBy ??= reason; resetEnd(down); resetEnd(upstream); },
  });
  trace.opened();
  const result = await relay(down, upstream);
  untrack();
  trace.finish({ downToUp: result.aToB, upToDown: result.bToA, error: closedBy ?? result.error?.message });
}
