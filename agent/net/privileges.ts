import { openSync, closeSync } from 'node:fs';
import { AF_INET, CLONE_NEWNET, SOL_SOCKET, SO_MARK, closeFd, setIntOption, setns, streamSocket } from './libc.js';
import { PrivilegeError, SyscallError } from './errors.js';
import { MESH_MARK } from '../base/contracts/ports.js';

function denied(err: unknown): boolean {
  return err instanceof SyscallError && (err.errnoName === 'EPERM' || err.errnoName === 'EACCES');
}

/**
 * Checks, once at start-up, that the agent may enter network namespaces (CAP_SYS_ADMIN; not in
 * host mode, which never leaves its own) and mark sockets (CAP_NET_ADMIN, or CAP_NET_RAW on
 * Linux ≥ 5.17; host mode needs CAP_NET_ADMIN for its iptables rules). Returns one
 * PrivilegeError per missing privilege; other failures throw.
 */
export function checkNetPrivileges(opts: { enterNetns: boolean } = { enterNetns: true }): PrivilegeError[] {
  const missing: PrivilegeError[] = [];
  if (opts.enterNetns) checkSetns(missing);
  const fd = streamSocket(AF_INET);
  try {
    setIntOption(fd, SOL_SOCKET, SO_MARK, MESH_MARK, 'SO_MARK');
  } catch (err) {
    if (!denied(err)) throw err;
    missing.push(new PrivilegeError('CAP_NET_ADMIN', 'mark sockets (SO_MARK)', err));
  } finally {
    closeFd(fd);
  }
  return missing;
}

function checkSetns(missing: PrivilegeError[]): void {
  const own = openSync('/proc/thread-self/ns/net', 'r');
  try {
    // Re-entering our own namespace needs exactly the privilege entering a pod's needs.
    setns(own, CLONE_NEWNET, 'privilege check');
  } catch (err) {
    if (!denied(err)) throw err;
    missing.push(new PrivilegeError('CAP_SYS_ADMIN', 'enter pod network namespaces (setns)', err));
  } finally {
    closeSync(own);
  }
}
