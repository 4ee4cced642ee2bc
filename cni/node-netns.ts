import { statSync } from 'node:fs';
import { CniCode, CniError } from './errors.js';

/**
 * The namespaces a CNI_NETNS must never be: the plugin's own (the runtime's, i.e. the node's) and
 * PID 1's (the machine's). Capture rules there would redirect the node's own traffic to pod
 * listeners. Compared by dev:inode, so any path to them (/proc/self/ns/net, a bind mount) is caught.
 */
const NODE_NAMESPACES = ['/proc/self/ns/net', '/proc/1/ns/net'];

function idOf(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Throws (code 105) when `netnsPath` names the node's namespace; a missing path is left to the caller. */
export function refuseNodeNetns(netnsPath: string): void {
  const id = idOf(netnsPath);
  if (id === undefined) return;
  const node = NODE_NAMESPACES.find((p) => idOf(p) === id);
  if (node) {
    throw new CniError(CniCode.NodeNetns, 'CNI_NETNS is the node\'s own network namespace',
      `${netnsPath} is the same namespace as ${node}; a pod must have a namespace of its own, so nothing was changed`);
  }
}
