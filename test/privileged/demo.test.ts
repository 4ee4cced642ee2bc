import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { eventually } from '../helpers/eventually.js';
import { meshnodeBin } from '../helpers/paths.js';
import { privilegedTest } from '../helpers/privileged.js';

const TOOLS = ['ip', 'nsenter', 'setpriv', 'iptables-restore', 'ip6tables-restore', '/usr/lib/cni/bridge', '/usr/lib/cni/static', '/usr/lib/cni/loopback'];

interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function startDemo(args: string[], onStdout?: (text: string, kill: (sig: NodeJS.Signals) => void) => void): Promise<DemoRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [meshnodeBin, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); onStdout?.(stdout, (sig) => child.kill(sig)); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function runOf(stdout: string): { id: string; dir: string } {
  const m = /\(run ([0-9a-f]{4}), files in (\S+)\)/.exec(stdout);
  if (!m) throw new Error(`no run id in output:\n${stdout}`);
  return { id: m[1]!, dir: m[2]! };
}

function leftovers(id: string, dir: string): string[] {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`mnd${id}-`));
  const procs = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(dir));
  return [...netns, ...procs, ...(existsSync(dir) ? [dir] : [])];
}

privilegedTest('meshnode demo --non-interactive shows every step as expected, exits 0 and removes everything it created', async (t) => {
  const run = await startDemo(['--non-interactive']);
  t.is(run.code, 0, `${run.stdout}\n${run.stderr}`);
  t.is(run.stdout.match(/✓ as expected/g)?.length, 8, run.stdout);
  t.regex(run.stdout, /meshnode agent --host-mode on vm-billing, as uid \d+ with CAP_NET_ADMIN and CAP_NET_RAW only ready/);
  t.regex(run.stdout, /the VM's agent: inbound .* as spiffe:\/\/cluster\.local\/ns\/shop\/sa\/frontend → shop\/vm-billing .* via HBONE: allow-matched/);
  t.regex(run.stdout, /node-b's agent: inbound 192\.168\.78\.2:\d+ as spiffe:\/\/cluster\.local\/ns\/shop\/sa\/billing → shop\/cart/);
  t.regex(run.stdout, /Every step behaved as shown\./);
  t.regex(run.stdout, /pod shop\/frontend .*in the mesh, traffic captured/);
  t.regex(run.stdout, /pod legacy\/batch .*not in the mesh, left untouched/);
  t.regex(run.stdout, /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/frontend/);
  t.regex(run.stdout, /the cart app sees the caller as 10\.78\.1\.10, the frontend's pod IP/);
  const { id, dir } = runOf(run.stdout);
  t.deepEqual(leftovers(id, dir), []);
}, TOOLS);

privilegedTest('meshnode demo --keep holds the mesh up with commands to try, and Ctrl-C removes it all', async (t) => {
  let interrupted = false;
  const run = await startDemo(['--keep', '--non-interactive'], (out, kill) => {
    if (!interrupted && out.includes('Press Ctrl-C to remove everything')) {
      interrupted = true;
      const { id } = runOf(out);
      t.true(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`mnd${id}-node-a`), 'still running before Ctrl-C');
      kill('SIGINT');
    }
  });
  t.true(interrupted, run.stdout + run.stderr);
  t.is(run.code, 130);
  t.regex(run.stdout, /ip netns exec mnd[0-9a-f]{4}-frontend .* call 10\.78\.2\.10:8080/);
  const { id, dir } = runOf(run.stdout);
  const left = await eventually(() => {
    const l = leftovers(id, dir);
    if (l.length > 0) throw new Error(`still there: ${l.join(', ')}`);
    return l;
  }, 5000).catch(() => leftovers(id, dir));
  t.deepEqual(left, []);
}, TOOLS);

privilegedTest('without root the demo stops before touching anything and says to use sudo', async (t) => {
  const out = (() => {
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, meshnodeBin, 'demo', '--non-interactive'], { encoding: 'utf8', stdio: 'pipe' });
      return { code: 0, stderr: '' };
    } catch (err) {
      const e = err as { status: number; stderr: string };
      return { code: e.status, stderr: e.stderr };
    }
  })();
  t.is(out.code, 1);
  t.regex(out.stderr, /must run as root: sudo meshnode demo/);
}, [...TOOLS, 'setpriv']);
