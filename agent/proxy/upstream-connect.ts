import type net from 'node:net';
import { upstreamConnectFailures } from '../../metrics/proxy.js';
import { SyscallError, TransparentBindError, type ConnectOptions, type NetnsHandle } from '../net/index.js';

const ERRNO = /^E[A-Z0-9]{1,20}$/;

/** The errno name of a failed bind/connect; `other` keeps the label set closed. */
function errnoOf(err: unknown): string {
  const inner = err instanceof TransparentBindError ? err.cause : err;
  const code = inner instanceof SyscallError ? inner.errnoName : (inner as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && ERRNO.test(code) ? code : 'other';
}

/**
 * `netns.connect` that counts each failure in `meshnode_proxy_upstream_connect_failures_total`:
 * stage `bind` when the transparent source could not be taken, `connect` for everything after
 * (refused, unreachable, no free 4-tuple, timeout). The caller still decides what a failure means.
 */
export async function connectCounted(netns: NetnsHandle, direction: 'inbound' | 'outbound', host: string, port: number,
  opts?: ConnectOptions): Promise<net.Socket> {
  try {
    return await netns.connect(host, port, opts);
  } catch (err) {
    upstreamConnectFailures.inc({ direction, stage: err instanceof TransparentBindError ? 'bind' : 'connect', error: errnoOf(err) });
    throw err;
  }
}
