import { MeshnodeError } from '../base/errors.js';
/**
 * Errors of the native boundary. Each carries a stable `code`; messages are lower case and name
 * the syscall and what it was doing, so a log line alone tells an operator what failed.
 */
export class SyscallError extends MeshnodeError {
  readonly code = 'ERR_NET_SYSCALL';
  constructor(readonly syscall: string, readonly errnoName: string, readonly errno: number, detail?: string) {
    super(`${syscall}${detail ? ` (${detail})` : ''} failed: ${errnoName}`);
  }
}

/** A path given as a network namespace cannot be used as one. */
export class NetnsError extends MeshnodeError {
  readonly code = 'ERR_NETNS';
  constructor(readonly path: string, readonly reason: 'missing' | 'invalid' | 'closed', cause?: unknown) {
    super(reason === 'missing' ? `network namespace ${path} does not exist`
      : reason === 'closed' ? `network namespace handle for ${path} is closed`
        : `${path} is not a usable network namespace`, { cause });
  }
}

/** The agent lacks a capability the data plane needs (checked once at start-up). */
export class PrivilegeError extends MeshnodeError {
  readonly code = 'ERR_NET_PRIVILEGE';
  constructor(readonly capability: string, readonly what: string, cause?: unknown) {
    super(`cannot ${what}: missing privilege ${capability} (run as root or grant ${capability})`, { cause });
  }
}

/**
 * A connection could not take a foreign source address (IP_TRANSPARENT or the bind to it
 * failed: no CAP_NET_ADMIN, address family mismatch, ...). Nothing was sent; the caller may
 * connect again without a spoofed source.
 */
export class TransparentBindError extends MeshnodeError {
  readonly code = 'ERR_NET_TRANSPARENT';
  constructor(readonly source: string, cause?: unknown) {
    super(`cannot use ${source} as the source address (transparent bind): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The preferred source port of a transparent connection is held; it is made again with any port. */
export class SourcePortTakenError extends MeshnodeError {
  readonly code = 'ERR_NET_SOURCE_PORT_TAKEN';
  constructor(readonly port: number) {
    super(`source port ${port} is taken`);
  }
}
