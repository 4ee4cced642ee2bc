import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { caApi, stringStruct } from '../agent/ca/ca-api.js';
import { execFile } from 'node:child_process';
import { createCertManager } from '../agent/identity/cert-manager.js';
import { Revocations } from '../agent/identity/index.js';
import { pemDecodeAll } from '../agent/base/pem.js';
import { shippedScript } from '../agent/base/install-layout.js';
import { generateKeyAndCsr } from '../agent/identity/csr.js';
import { asSpiffeId, type SpiffeId } from '../agent/base/spiffe-id.js';
import { setLogSink } from '../agent/telemetry/log.js';
import type { BenchResult } from './result.js';

/**
 * Identity benchmarks against a real `meshnode ca` child process over gRPC/TLS:
 * - CSRs signed per second with many concurrent requests (target ≥ 1,000/s);
 * - time for a certificate manager to hold valid certificates for 110 distinct identities
 *   (target ≤ 1 s), with fresh keys and the default 8 requests in flight;
 * - time from running `meshnode ca revoke --serial` to the far node enforcing it: another node's
 *   certificate manager, subscribed to the CA's push, holds the new CRL and has re-checked its
 *   tunnels (target: within 1 s of the CA seeing the change, issue #12).
 */

const MESHNODE = shippedScript('agent/main.js');
const TOKEN = 'bench-node-agent-token-0123456789';
const AGENT = 'spiffe://cluster.local/ns/istio-system/sa/ztunnel';

function startCa(dir: string): Promise<{ proc: ChildProcess; port: number }> {
  writeFileSync(join(dir, 'tokens.yaml'), `- token: ${TOKEN}\n  identity: ${AGENT}\n  impersonate: ["spiffe://cluster.local/ns/*/sa/*"]\n`);
  const proc = spawn(process.execPath, [MESHNODE, 'ca', '--dir', join(dir, 'ca'), '--listen', '127.0.0.1:0', '--tokens', join(dir, 'tokens.yaml')], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MESHNODE_LOG: 'info' },
  });
  return new Promise((resolvePort, reject) => {
    let buf = '';
    const onData = (chunk: string) => {
      buf += chunk;
      const m = /"msg":"listening".*?"port":(\d+)/.exec(buf);
      if (m) {
        // Keep draining the audit log so the CA never blocks on a full pipe.
        proc.stderr!.off('data', onData).on('data', () => {});
        resolvePort({ proc, port: Number(m[1]) });
      }
    };
    proc.stderr!.setEncoding('utf8').on('data', onData);
    proc.once('exit', (code) => reject(new Error(`meshnode ca exited with ${code}: ${buf}`)));
  });
}

type Unary = (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void;

async function signingRate(port: number, root: string, seconds: number): Promise<number> {
  const ids = Array.from({ length: 64 }, (_, i) => `spiffe://cluster.local/ns/bench/sa/sa${i}`);
  const csrs = await Promise.all(ids.map(async (id) => ({ id, csr: (await generateKeyAndCsr(id)).csrPem })));
  const { Client } = caApi();
  // Several connections, as many node agents would open; 32 requests in flight on each.
  const clients = Array.from({ length: 4 }, (_, i) => new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(root)), { 'grpc.channel_id': i }));
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  let done = 0;
  let failed = 0;
  let measuring = false;
  let stop = false;
  const worker = async (client: grpc.Client, n: number) => {
    const call = (client as unknown as { CreateCertificate: Unary }).CreateCertificate.bind(client);
    for (let i = n; !stop; i++) {
      const { id, csr } = csrs[i % csrs.length]!;
      await new Promise<void>((res) => call({ csr, validity_duration: 3600, metadata: stringStruct({ ImpersonatedIdentity: id }) }, md, (err) => {
        if (err) failed++;
        else if (measuring) done++;
        res();
      }));
    }
  };
  const workers = clients.flatMap((c) => Array.from({ length: 32 }, (_, n) => worker(c, n)));
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  const rate = done / elapsed;
  stop = true;
  await Promise.all(workers);
  clients.forEach((c) => c.close());
  if (failed > 0) throw new Error(`${failed} signing requests failed`);
  return rate;
}

async function time110(port: number, dir: string): Promise<number> {
  writeFileSync(join(dir, 'token'), TOKEN);
  const ids: SpiffeId[] = Array.from({ length: 110 }, (_, i) => asSpiffeId(`spiffe://cluster.local/ns/team${i % 11}/sa/workload${i}`)!);
  const manager = createCertManager({
    node: 'bench', caAddress: { host: '127.0.0.1', port }, caRootFile: join(dir, 'ca', 'root-cert.pem'),
    tokenFile: join(dir, 'token'), clusterId: 'Kubernetes', certTtlMs: 86_400_000,
  });
  try {
    const started = performance.now();
    manager.setIdentities(ids);
    await Promise.all(ids.map((id) => manager.fetch(id, 30_000)));
    return (performance.now() - started) / 1000;
  } finally {
    await manager.close();
  }
}

/** `meshnode ca revoke` for a fresh identity's certificate, until the far node's CRLs revoke it. */
async function revokeToEnforced(port: number, dir: string): Promise<number[]> {
  writeFileSync(join(dir, 'token'), TOKEN);
  const holder = createCertManager({
    node: 'holder', caAddress: { host: '127.0.0.1', port }, caRootFile: join(dir, 'ca', 'root-cert.pem'),
    tokenFile: join(dir, 'token'), clusterId: 'Kubernetes', certTtlMs: 86_400_000,
  });
  const far = createCertManager({
    node: 'far', caAddress: { host: '127.0.0.1', port }, caRootFile: join(dir, 'ca', 'root-cert.pem'),
    tokenFile: join(dir, 'token'), clusterId: 'Kubernetes', certTtlMs: 86_400_000,
  });
  const revocations = new Revocations(() => far.trustBundle());
  far.useRevocations(revocations, true);
  const times: number[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const id = asSpiffeId(`spiffe://cluster.local/ns/bench/sa/revoked${i}`)!;
      holder.setIdentities([id]);
      const cert = await holder.fetch(id, 30_000);
      const chain = [...cert.chainPem, ...cert.rootsPem].flatMap((p) => pemDecodeAll(p, 'CERTIFICATE'));
      const enforced = new Promise<number>((resolve) => {
        const stop = revocations.onChange(() => {
          if (revocations.check(chain).status === 'revoked') { stop(); resolve(performance.now()); }
        });
      });
      const started = performance.now();
      const exited = new Promise((resolve) => execFile(process.execPath, [MESHNODE, 'ca', 'revoke', '--dir', join(dir, 'ca'), '--serial', cert.serial], resolve));
      times.push(((await enforced) - started) / 1000);
      await exited;
    }
  } finally {
    await holder.close();
    await far.close();
  }
  return times;
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mn-bench-identity-'));
  const { proc, port } = await startCa(dir);
  setLogSink(() => {});
  try {
    const root = readFileSync(join(dir, 'ca', 'root-cert.pem'), 'utf8');
    const rate = await signingRate(port, root, 4);
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) runs.push(await time110(port, dir));
    const sorted = [...runs].sort((a, b) => a - b);
    const revokes = (await revokeToEnforced(port, dir)).sort((a, b) => a - b);
    return [
      { name: 'meshnode ca: CSRs signed per second (128 concurrent, 4 conns)', value: Math.round(rate), unit: 'CSR/s', target: '≥ 1,000/s', note: 'ECDSA P-256 root, audit log on, client in the same 2 cores' },
      { name: 'cert manager: 110 identities certified (median of 5)', value: sorted[2]!, unit: 's', target: '≤ 1 s', note: `each run a fresh manager and channel; first ${runs[0]!.toFixed(3)} s, worst ${sorted[4]!.toFixed(3)} s` },
      { name: 'revocation: `meshnode ca revoke` to enforcement on the far node (median of 5)', value: revokes[2]!, unit: 's', target: '≤ 1 s after the CA sees it', note: `includes starting the revoke command (a node process); best ${revokes[0]!.toFixed(3)} s, worst ${revokes[4]!.toFixed(3)} s` },
    ];
  } finally {
    setLogSink((line) => process.stderr.write(line + '\n'));
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
