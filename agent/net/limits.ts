import { getFileLimit, setFileLimit } from './libc.js';

/**
 * Raises the soft open-files limit to the hard limit, as ztunnel does at start-up: every proxied
 * connection holds two or more sockets, and distributions default the soft limit to 1024.
 * Returns the limits before and after.
 */
export function raiseFileLimit(): { before: number; after: number } {
  const { soft, hard } = getFileLimit();
  if (soft < hard) setFileLimit(hard, hard);
  return { before: Number(soft), after: Number(getFileLimit().soft) };
}
