import net from 'node:net';
import { readdirSync } from 'node:fs';
import { privilegedTest } from '../helpers/privileged.js';
import { agentWithCa, httpCall, ready, startProcess, until } from './agent-harness.js';

// The agent runs out of file descriptors. It must stay up, keep its state, and
// serve again on its own once the descriptors are released.
const LIMIT = 256;

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

privilegedTest('with RLIMIT_NOFILE exhausted by idle connections the agent stays up and recovers when they close', async (t) => {
  const { args, ports } = await agentWithCa(t, 'i-fds-');
  const agent = startProcess(t, args, ['prlimit', `--nofile=${LIMIT}:${LIMIT}`, '--']);
  await ready(ports.readiness);
  const pid = agent.child.pid!;
  const baseline = openFds(pid);

  const sockets: net.Socket[] = [];
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  const connectOne = () => new Promise<void>((resolve) => {
    const s = net.connect(ports.metrics, '127.0.0.1');
    s.on('error', () => undefined);
    s.once('connect', () => resolve());
    s.once('close', () => resolve());
    sockets.push(s);
  });
  for (let i = 0; i < LIMIT + 50; i++) await connectOne();
  await until(() => openFds(pid) >= LIMIT - 1, 'the agent to reach its descriptor limit', 10_000);
  // libuv accepts and closes what it has no descriptor for, so the excess is dropped, not queued.
  await until(() => sockets.some((s) => s.closed), 'connections beyond the limit to be dropped', 10_000);
  t.is(agent.child.exitCode, null, 'the agent is still running');

  for (const s of sockets) s.destroy();
  await until(async () => (await httpCall({ port: ports.readiness }, 'GET', '/healthz/ready').catch(() => ({ status: 0 }))).status === 200, 'readiness to answer again');
  t.is((await httpCall({ port: ports.metrics }, 'GET', '/metrics')).status, 200);
  await until(() => openFds(pid) <= baseline + 5, `descriptors back near the baseline of ${baseline}`);
  t.is(agent.child.exitCode, null);
  agent.child.kill('SIGTERM');
  t.is(await agent.exited, 0);
}, ['prlimit']);
