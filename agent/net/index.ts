/**
 * Network namespaces and the socket options Node lacks. The rest of the agent sees only this
 * facade: "listen in this netns", "connect from this netns with the mark", "original destination
 * of this socket".
 */
export { KEEPALIVE_IDLE_MS, openNetns, currentNetns, netnsIdOf } from './netns.js';
export { MESH_MARK } from '../base/contracts/ports.js';
export type { NetnsHandle, ListenOptions, ConnectOptions } from './netns.js';
export { originalDst, readSocketOptions, socketFd } from './sockopts.js';
export { checkNetPrivileges } from './privileges.js';
export { raiseFileLimit } from './limits.js';
export { notifySystemd } from './sd-notify.js';
export { NetnsError, PrivilegeError, SyscallError, TransparentBindError } from './errors.js';
