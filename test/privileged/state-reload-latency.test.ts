import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { privilegedTest } from '../helpers/privileged.js';
import { eventually } from '../helpers/eventually.js';
import { largeMeshYaml } from '../../bench/large-mesh.js';
import { CNI_TOOLS, createCniNode } from './cni-harness.js';
import { meshYaml, startTestMesh } from './cni-mesh.js';

/**
 * A round-trip client that keeps one connection busy (a ping every 5 ms) and, when told `stop`
 * on stdin, prints the slowest round trip, the count and whether the connection survived.
 */
const PINGER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect(Number(port), host);
let sent = 0, max = 0, trips = 0, open = true;
s.on('connect', () => { process.stdout.write('ready\\n'); ping(); });
s.on('data', () => { max = Math.max(max, performance.now() - sent); trips++; setTimeout(ping, 5); });
s.on('close', () => { open = false; });
s.on('error', () => { open = false; });
function ping() { if (!open) return; sent = performance.now(); s.write('x'); }
process.stdin.on('data', () => { process.stdout.write(JSON.stringify({ max, trips, open }) + '\\n'); process.exit(0); });
`;

const ECHO = `require('node:net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(Number(process.argv[1]), () => process.stdout.write('listening\\n'));`;

function reloads(logFile: string): number {
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"mesh config reloaded"')).length;
}

privilegedTest('changing one policy in a 10,000-pod config leaves a proxied connection flowing with bounded latency', async (t) => {
  t.timeout(120_000);
  const node = createCniNode(t);
  const [a, b] = [node.plan('client', 'shop'), node.plan('server', 'shop')];
  const mesh = await startTestMesh(t, node, [a, b]);
  await node.addPod(a, mesh.meshnode);
  await node.addPod(b, mesh.meshnode);
  const config = `${node.dir}/mesh.yaml`;
  const log = `${node.dir}/agent.log`;
  const big = (variant: number) => `${meshYaml([a, b], 'node-1')}---\n${largeMeshYaml(variant)}`;

  writeFileSync(config, big(0));
  await eventually(() => { if (reloads(log) < 1) throw new Error('the 10,000-pod config is not applied yet'); }, 60_000);

  const echo = spawn('ip', ['netns', 'exec', b.netnsName, process.execPath, '-e', ECHO, '9090'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { echo.kill(); });
  await new Promise<void>((resolve) => echo.stdout.once('data', () => resolve()));
  const pinger = spawn('ip', ['netns', 'exec', a.netnsName, process.execPath, '-e', PINGER, b.ip, '9090'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => { pinger.kill(); });
  let out = '';
  pinger.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  await eventually(() => { if (!out.includes('ready')) throw new Error('the pinger has not connected'); }, 10_000);
  await new Promise((r) => setTimeout(r, 300));

  // The operator's edit: one policy's principal changes in the whole file, which is re-read entire.
  const before = reloads(log);
  writeFileSync(config, big(1));
  await eventually(() => { if (reloads(log) <= before) throw new Error('the edited config is not applied yet'); }, 60_000);
  await new Promise((r) => setTimeout(r, 300));
  pinger.stdin.write('stop\n');
  await eventually(() => { if (!out.includes('{')) throw new Error('no pinger report yet'); }, 10_000);
  const report = JSON.parse(out.slice(out.indexOf('{'))) as { max: number; trips: number; open: boolean };
  t.log(`slowest round trip ${report.max.toFixed(1)} ms over ${report.trips} trips during the reload`);
  t.true(report.open, 'the proxied connection survived the reload');
  t.true(report.trips > 50, `the connection kept flowing (${report.trips} round trips)`);
  // A reload that froze the event loop (seconds for this size) shows up as one slow round trip.
  t.true(report.max < 250, `slowest round trip ${report.max.toFixed(1)} ms`);
  const applied = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"mesh config reloaded"')).at(-1)!;
  t.regex(applied, /"authorizations":"\+0 ~1 -0"/, 'exactly one authorization changed in the store');
}, CNI_TOOLS);
