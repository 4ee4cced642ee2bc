import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import { openNetns } from '../../agent/net/index.js';
import { getLogLevel, setLogLevel } from '../../agent/telemetry/log.js';
import { registry } from '../../metrics/registry.js';
import { eventually } from '../helpers/eventually.js';
import { repoRoot } from '../helpers/paths.js';
import { privilegedTest } from '../helpers/privileged.js';
import { inNs } from '../helpers/topology.js';
import { closed, echo, startDataplane } from './dataplane-harness.js';

/**
 * Connection churn through the mesh: a client in pod a makes short connections (connect, 1 KB
 * each way, close) to an echo server in pod b. Every connection costs pod b's netns a TIME_WAIT
 * socket on the agent's transparent upstream side, all from pod a's IP to one server port; a
 * port search that grows with them slowed the rate ninefold after ~14,000 such connections.
 * The client runs as its own process (the bench's load program); both agents and the
 * application run in this one. Each quarter's rate is also taken per second of this process's
 * CPU time: on a machine shared with other work the wall-clock rate moves with their load, while
 * a port search shows up as our own (kernel) CPU per connection.
 */
const PORT = 8080;
const CONNECTIONS = 20_000;
const CONCURRENCY = 16;
const WARM_UP = 1_000;
const LOAD = resolve(repoRoot, 'build/bench/dataplane-load.js');

const openFds = () => readdirSync('/proc/self/fd').length;

interface ChurnResult { done: number; failed: number; seconds: number; quarters: number[]; marks: number[] }

/** This process's CPU seconds over time, sampled until `stop()`; `at(t)` interpolates. */
function cpuClock(): { stop(): void; at(t: number): number } {
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const samples: { t: number; cpu: number }[] = [{ t: Date.now(), cpu: cpu() }];
  const timer = setInterval(() => samples.push({ t: Date.now(), cpu: cpu() }), 50);
  return {
    stop: () => { clearInterval(timer); samples.push({ t: Date.now(), cpu: cpu() }); },
    at: (t) => {
      const i = samples.findIndex((x) => x.t >= t);
      if (i <= 0) return samples[i === 0 ? 0 : samples.length - 1]!.cpu;
      const [p, n] = [samples[i - 1]!, samples[i]!];
      return p.cpu + ((n.cpu - p.cpu) * (t - p.t)) / Math.max(1, n.t - p.t);
    },
  };
}

async function upstreamFailures(): Promise<number> {
  const m = await registry.getSingleMetric('meshnode_proxy_upstream_connect_failures_total')?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
}

privilegedTest(`${CONNECTIONS} short connections from pod a to pod b: the last quarter's rate is within 10 % of the first's and none falls below half (no churn collapse); nothing left open`, async (t) => {
  const dp = await startDataplane(t);
  // 40,000 access-log lines would cost more than the connections they describe.
  const level = getLogLevel();
  setLogLevel('warn');
  t.teardown(() => { setLogLevel(level); });
  // The harness's server keeps every accepted socket; 20,000 of them would be measured too.
  const accepted = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted.add(s);
    s.once('close', () => accepted.delete(s));
    echo(s);
  });
  const netnsB = openNetns(dp.topo.pod('b').path);
  t.teardown(() => { server.close(); netnsB.close(); });
  await netnsB.listen(PORT, { server });
  const a = dp.topo.pod('a');
  const b = dp.topo.pod('b');
  // Linux hands connect() ports of one parity first and searches the whole half once that is
  // full: with the default range a client making more than ~230 connections per second to one
  // server port slows down at ~14,000 of them on its own, mesh or not. The client pod gets the
  // whole range (as a pod can, net.ipv4.ip_local_port_range is a safe sysctl) so the client is
  // not what is measured; pod b keeps the default.
  inNs(a.netns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
  const run = (count: number) => promisify(execFile)('ip', ['netns', 'exec', a.netns, process.execPath, LOAD, 'connections', b.ip, String(PORT), String(count), String(CONCURRENCY)])
    .then(({ stdout }) => JSON.parse(stdout.trim()) as ChurnResult);
  // Warm: the code is compiled and the pooled HBONE connection a → b exists from here on, so the
  // first quarter is not paying for start-up and the descriptor count can be exact.
  await run(WARM_UP);
  const settled = () => dp.proxies.get('n1')!.connections.count() + dp.proxies.get('n2')!.connections.count() === 0;
  await eventually(() => { if (!settled()) throw new Error('warm-up connections still tracked'); });
  // The application sees the client's own port, not only its IP.
  const probe = await dp.connect('a', 'b', PORT);
  probe.write('x');
  await eventually(() => { if (![...accepted].some((s) => s.remotePort === probe.localPort)) throw new Error('no connection from the client port'); });
  probe.destroy();
  await closed(probe);
  await eventually(() => { if (!settled()) throw new Error('warm-up connections still tracked'); });
  const fdsBefore = openFds();
  const failuresBefore = await upstreamFailures();

  const clock = cpuClock();
  const result = await run(CONNECTIONS).finally(() => clock.stop());
  const perCpuSecond = [0, 1, 2, 3].map((i) => (CONNECTIONS / 4) / (clock.at(result.marks[i + 1]!) - clock.at(result.marks[i]!)));
  t.log(`${result.done} connections in ${result.seconds.toFixed(1)} s; per quarter: ${result.quarters.map((q) => `${q.toFixed(0)}/s`).join(', ')}`
    + `; per CPU second of both agents and the application: ${perCpuSecond.map((q) => q.toFixed(0)).join(', ')}`);
  t.is(result.failed, 0, 'connections failed');
  t.is(result.done, CONNECTIONS);
  t.is(await upstreamFailures(), failuresBefore, 'upstream bind/connect failures counted');
  // The issue's target: the last quarter no more than 10 % below the first. And no quarter below
  // half the first: the collapse this guards against took the rate to a third and less (before
  // the fix: 836 / 270 / 304 / 650 per CPU second) and is self-limiting (at its rate TIME_WAITs
  // expire faster than they are made), so it could hide between the first and the last quarter.
  // Runs after the fix: 1178 / 1363 / 1355 / 1378, 1238 / 1411 / 1377 / 1354, 1244 / 1406 / 1401 / 1334.
  for (const [i, q] of perCpuSecond.entries()) {
    t.true(q >= perCpuSecond[0]! * 0.5, `quarter ${i + 1}: ${q.toFixed(0)} vs first ${perCpuSecond[0]!.toFixed(0)} connections per CPU second (at least half)`);
  }
  t.true(perCpuSecond[3]! >= perCpuSecond[0]! * 0.9, `last quarter ${perCpuSecond[3]!.toFixed(0)} vs first ${perCpuSecond[0]!.toFixed(0)} connections per CPU second (at most 10 % lower)`);

  await eventually(() => { if (!settled()) throw new Error(`${dp.proxies.get('n2')!.connections.count()} connections still tracked`); });
  await eventually(() => {
    const now = openFds();
    if (now !== fdsBefore) throw new Error(`${now} descriptors open, ${fdsBefore} before`);
  });
  // Only the listeners and the one pooled HBONE connection are left in pod b: nothing in
  // ESTABLISHED, CLOSE_WAIT or FIN_WAIT towards the application.
  const open = inNs(b.netns, 'ss', ['-Htn', 'state', 'connected', 'exclude', 'time-wait']).trim().split('\n').filter(Boolean);
  t.true(open.every((l) => l.includes(':15008')), `sockets left in pod b:\n${open.join('\n')}`);
  t.log(`TIME_WAIT sockets in pod b: ${inNs(b.netns, 'ss', ['-Htn', 'state', 'time-wait']).trim().split('\n').filter(Boolean).length}`);
}, ['ip', 'iptables', 'ss']);
