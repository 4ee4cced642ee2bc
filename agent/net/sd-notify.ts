import { sendUnixDatagram } from './libc.js';

/**
 * systemd's readiness protocol (`Type=notify`): a datagram such as `READY=1` to the socket named
 * by NOTIFY_SOCKET. Without that variable (not started by systemd) it does nothing; a failure to
 * send is returned, never thrown, since readiness reporting must not stop the agent.
 */
export function notifySystemd(state: string, env: NodeJS.ProcessEnv = process.env): Error | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  try {
    sendUnixDatagram(socket, state);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}
