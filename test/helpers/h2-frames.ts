import type { TunnelCert } from '../../agent/tunnel/cert-source.js';
import tls from 'node:tls';

/**
 * Hand-made HTTP/2 frames (RFC 9113 §4) for peers that misbehave in ways Node's own client
 * never would: one that sends the preface and then stops reading, or one that sends an
 * oversized header block. Header blocks use HPACK literals without indexing (RFC 7541 §6.2.2),
 * which every decoder must accept.
 */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
/** The largest frame a peer must accept before it has seen our SETTINGS. */
const DEFAULT_MAX_FRAME = 16_384;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export const emptySettings = (): Buffer => frame(SETTINGS, 0, 0);

function hpackInt(value: number): Buffer {
  if (value < 127) return Buffer.from([value]);
  const out = [127];
  let rest = value - 127;
  while (rest >= 128) { out.push((rest % 128) + 128); rest = Math.floor(rest / 128); }
  out.push(rest);
  return Buffer.from(out);
}

function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0]), hpackInt(n.length), n, hpackInt(v.length), v]);
}

/** The HPACK block alone, for tests that frame it themselves (split, interleaved, flagged). */
export function literalBlock(headers: readonly [string, string][]): Buffer {
  return Buffer.concat(headers.map(([n, v]) => literal(n, v)));
}

/** HEADERS plus as many CONTINUATION frames as the block needs, at the default frame size. */
export function headerBlock(streamId: number, headers: readonly [string, string][]): Buffer {
  const block = literalBlock(headers);
  const frames: Buffer[] = [];
  for (let at = 0; at < block.length || at === 0; at += DEFAULT_MAX_FRAME) {
    const chunk = block.subarray(at, at + DEFAULT_MAX_FRAME);
    const last = at + DEFAULT_MAX_FRAME >= block.length;
    frames.push(frame(at === 0 ? HEADERS : CONTINUATION, last ? END_HEADERS : 0, streamId, chunk));
  }
  return Buffer.concat(frames);
}

/** A TLS connection offering h2 with `cert` as client certificate, resolved once it is up. */
export function tlsClient(port: number, cert: TunnelCert, rootPem: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: '127.0.0.1', port, ALPNProtocols: ['h2'], ca: [rootPem], checkServerIdentity: () => undefined,
      key: cert.keyPem, cert: cert.chainPem.join('\n'),
    });
    sock.once('secureConnect', () => resolve(sock));
    sock.once('error', reject);
  });
}
