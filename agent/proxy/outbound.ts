import { HBONE_PORT } from '../base/contracts/ports.js';
import type net from 'node:net';
import { canonicalIp } from '../base/ip.js';
import type { Workload } from '../model/types.js';
import { originalDst } from '../net/index.js';
import type { SpiffeId } from '../base/spiffe-id.js';
import { formatAuthority, type SocketAddress } from '../tunnel/index.js';
import type { TunnelCert } from '../tunnel/index.js';
import { baggageHeader, forwardedHeader, traceparentHeader } from '../tunnel/index.js';
import { TunnelError } from '../tunnel/index.js';
import { H2Stream, HboneConnection } from '../tunnel/index.js';
import { secureContextFor, tunnelPeerChain } from '../tunnel/index.js';
import { telemetryNames } from '../model/telemetry.js';
import { ConnectionTrace } from './conn-trace.js';
import { addrText, handshakeRevocationCheck, type PodContext } from './context.js';
import { resolveOutbound, type OutboundTarget } from './destination.js';
import { relay, resetEnd, socketsOf } from './relay.js';
import { connectCounted } from './upstream-connect.js';

/**
 * Outbound capture (15001): connections the pod's applications make, redirected here by the
 * pod's iptables rules. The original destination decides the route (destination.ts); mesh
 * destinations go over HBONE with the pod's own identity, which is awaited for up to 5 s — a
 * connection is never sent without it.
 */
export const CERT_WAIT_MS = 5_000;

export async function handleOutbound(ctx: PodContext, client: net.Socket): Promise<void> {
  client.on('error', () => { /* handled by the relay, or the connection is being refused */ });
  const dst = originalDst(client);
  const src = { ip: canonicalIp(client.remoteAddress ?? '') ?? 'unknown', port: client.remotePort ?? 0 };
  const trace = new ConnectionTrace({
    direction: 'outbound', src: { addr: addrText(src.ip, src.port) },
    dst: { addr: dst ? addrText(dst.address, dst.port) : 'unknown' },
  });
  const refuse = (...args: Parameters<ConnectionTrace['refused']>) => {
    trace.refused(...args);
    resetEnd(client);
  };
  if (!dst) return refuse('no-original-destination', 'connection has no original destination');
  const source = ctx.target.local(src.ip);
  trace.start.src.workload = source;
  if (!source) return refuse('unknown-source', ctx.target.absent(src.ip));
  const target = resolveOutbound(ctx.deps.mesh(), { ip: dst.address, port: dst.port });
  if (target.kind === 'refused') return refuse(target.reason, target.message);
  trace.start.dst.workload = target.workload;
  trace.start.dst.service = target.service;
  if (target.kind === 'passthrough') return passthrough(ctx, client, target.address, trace);
  return viaHbone(ctx, client, src, source, target, trace);
}

async function passthrough(ctx: PodContext, client: net.Socket, to: SocketAddress, trace: ConnectionTrace): Promise<void> {
  let upstream: net.Socket;
  try {
    upstream = await connectCounted(ctx.netns, 'outbound', to.ip, to.port);
  } catch (err) {
    trace.finish({ downToUp: 0, upToDown: 0, error: `upstream connect failed: ${(err as Error).message}`, flag: 'CONNECT' });
    resetEnd(client);
    return;
  }
  await carry(ctx, client, upstream, trace);
}

async function viaHbone(ctx: PodContext, client: net.Socket, src: SocketAddress, source: Workload,
  target: Extract<OutboundTarget, { kind: 'hbone' }>, trace: ConnectionTrace): Promise<void> {
  const mesh = ctx.deps.mesh();
  const identity = mesh.identityOf(source);
  trace.secure();
  trace.start.src.identity = identity;
  trace.start.dst.identity = mesh.identityOf(target.workload);
  trace.start.dst.hboneAddr = formatAuthority(target.address);
  let cert: TunnelCert;
  try {
    cert = await ctx.deps.certs.fetch(identity, CERT_WAIT_MS);
  } catch (err) {
    trace.refused('no-certificate', `no certificate for ${identity}: ${(err as Error).message}`, 'IDENTITY_ERROR');
    resetEnd(client);
    return;
  }
  let stream: H2Stream;
  try {
    stream = await openStream(ctx, cert, identity, src, source, target);
  } catch (err) {
    const flag = err instanceof TunnelError ? err.responseFlag : 'CONNECT';
    trace.finish({ downToUp: 0, upToDown: 0, error: (err as Error).message, flag });
    resetEnd(client);
    return;
  }
  await carry(ctx, client, stream, trace);
}

function openStream(ctx: PodContext, cert: TunnelCert, identity: SpiffeId, src: SocketAddress, source: Workload,
  target: Extract<OutboundTarget, { kind: 'hbone' }>): Promise<H2Stream> {
  const peer = { ip: target.address.ip, port: HBONE_PORT };
  const peerText = formatAuthority(peer);
  const dial = async () => HboneConnection.dial({
    socket: await connectCounted(ctx.netns, 'outbound', peer.ip, peer.port),
    peer: peerText,
    secureContext: secureContextFor(cert, ctx.deps.certs.trustBundle()),
    expectedIdentities: target.expected,
    checkRevocation: handshakeRevocationCheck(ctx.deps, 'source'),
  });
  const names = telemetryNames(source);
  const headers = {
    baggage: baggageHeader({
      namespace: source.namespace, workloadKind: 'pod', workloadName: names.workloadName,
      canonicalName: names.canonicalName, canonicalRevision: names.canonicalRevision,
    }),
    forwarded: forwardedHeader(src, target.service?.hostname),
    traceparent: traceparentHeader(),
  };
  const key = { sourceIdentity: identity, certSerial: cert.serial, sourceIp: source.addresses[0] ?? '', peer: peerText, expectedIdentities: target.expected };
  return ctx.pool.stream(key, dial, formatAuthority(target.address), headers);
}

/** Relays until both directions are done, tracked so that removing the pod closes it. */
async function carry(ctx: PodContext, client: net.Socket, upstream: net.Socket | H2Stream, trace: ConnectionTrace): Promise<void> {
  if (client.destroyed) {
    resetEnd(upstream);
    trace.finish({ downToUp: 0, upToDown: 0, error: 'client closed before the upstream was ready' });
    return;
  }
  let closedBy: string | undefined;
  const untrack = ctx.connections.track({
    podUid: ctx.target.uid, direction: 'outbound', sockets: socketsOf(client, upstream), trace,
    peerChain: upstream instanceof H2Stream ? tunnelPeerChain(upstream) : undefined,
    bytes: () => ({ downToUp: client.bytesRead, upToDown: client.bytesWritten }),
    close: (reason) => { closedBy ??= reason; resetEnd(client); resetEnd(upstream); },
  });
  trace.opened();
  const result = await relay(client, upstream);
  untrack();
  trace.finish({ downToUp: result.aToB, upToDown: result.bToA, error: closedBy ?? result.error?.message });
}

