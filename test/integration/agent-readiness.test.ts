import test, { type ExecutionContext } from 'ava';
import { closeSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { buildApp, type Bound } from '../../agent/app.js';
import { getFileLimit, setFileLimit } from '../../agent/net/libc.js';
import { eventually } from '../helpers/eventually.js';
import { AGENT_TEST_MESH } from '../privileged/agent-mesh.js';
import { NODE_TOKEN, recordingLogger, removeDir, startCa, tempDir, writeTokens, type CaProcess } from './ca-support.js';

// Issue #15 item 11d: /healthz/ready stayed 200 with the CA down and the local workloads'
// certificates missing, and while descriptors were exhausted. The real agent (buildApp: config,
// certificate manager, readiness server) on loopback; no pod listeners, so no privileges needed.
// Serial: the descriptor test lowers this process's open-files limit.

function probe(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz/ready', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function agent(t: ExecutionContext, work: string, caPort: number): Promise<Bound> {
  const config = join(work, 'mesh.yaml');
  writeFileSync(config, AGENT_TEST_MESH);
  writeFileSync(join(work, 'token'), NODE_TOKEN + '\n');
  const any = { host: '127.0.0.1', port: 0 };
  const bound = await buildApp({
    configPath: config, node: 'n1', settings: { trustDomain: 'cluster.local', rootNamespace: 'istio-system' },
    identity: {
      node: 'n1', caAddress: { host: '127.0.0.1', port: caPort }, caRootFile: join(work, 'ca', 'root-cert.pem'),
      tokenFile: join(work, 'token'), clusterId: 'Kubernetes', certTtlMs: 3_600_000,
    },
    cniSocket: join(work, 'cni.sock'), stateDir: join(work, 'state'), admin: any, metrics: any, readiness: any, drainDeadlineMs: 500,
  }, { log: recordingLogger(), processMetrics: false });
  t.teardown(() => bound.shutdown());
  return bound;
}

async function statusBecomes(port: number, status: number, timeoutMs: number): Promise<string> {
  return eventually(async () => {
    const r = await probe(port);
    if (r.status !== status) throw new Error(`readiness ${r.status}: ${r.body}`);
    return r.body;
  }, timeoutMs);
}

test.serial('with the CA down the agent turns not ready once its workloads have gone without certificates, and ready when the CA is back', async (t) => {
  const work = tempDir('mn-ready-ca-');
  t.teardown(() => removeDir(work));
  let ca: CaProcess = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  const caPort = ca.port;
  await ca.stop();
  const started = Date.now();
  const bound = await agent(t, work, caPort);
  const port = bound.addresses.readiness.port;
  t.is((await probe(port)).status, 200, 'a CA that is briefly away does not make a starting agent flap');
  const body = await statusBecomes(port, 500, 20_000);
  t.true(Date.now() - started >= 10_000, 'not before the 10 s grace');
  t.regex(body, /^not ready, failing: certificates: no valid certificate for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/(cart|web) since \S+ \(ca_unavailable\) and 1 more\n$/);
  // The CA comes back on the port the agent knows; while it was away an outgoing connection of
  // another test may have been given that ephemeral port, so the bind is retried until it is free.
  ca = await eventually(() => startCa(join(work, 'ca'), ['--tokens', writeTokens(work)], `127.0.0.1:${caPort}`), 20_000);
  t.teardown(() => ca.stop());
  t.is(await statusBecomes(port, 200, 30_000), 'ready\n');
});

test.serial('while file descriptors are exhausted the agent is not ready, naming EMFILE, and ready again once they are free', async (t) => {
  const work = tempDir('mn-ready-fd-');
  t.teardown(() => removeDir(work));
  const ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  const bound = await agent(t, work, ca.port);
  const port = bound.addresses.readiness.port;
  await statusBecomes(port, 200, 10_000);
  const limit = getFileLimit();
  const held: number[] = [];
  const release = (n: number) => { for (const fd of held.splice(0, n)) closeSync(fd); };
  t.teardown(() => { release(held.length); setFileLimit(limit.soft, limit.hard); });
  setFileLimit(BigInt(readdirSync('/proc/self/fd').length + 64), limit.hard);
  // Sustained exhaustion, as a descriptor leak or a connection flood causes: whatever the agent
  // closes meanwhile is taken again at once.
  const hog = () => {
    for (;;) {
      try {
        held.push(openSync('/dev/null', 'r'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EMFILE') throw err;
        return;
      }
    }
  };
  hog();
  const hogging = setInterval(hog, 5);
  t.teardown(() => clearInterval(hogging));
  await eventually(() => { if (bound.readiness.isReady()) throw new Error('still ready'); }, 10_000);
  clearInterval(hogging);
  // A few descriptors back, so the probe's connection can be accepted and answered.
  release(16);
  const r = await probe(port);
  t.is(r.status, 500);
  t.regex(r.body, /^not ready, failing: descriptors: cannot create file descriptors \(EMFILE\) since \S+\n$/);
  release(held.length);
  setFileLimit(limit.soft, limit.hard);
  t.is(await statusBecomes(port, 200, 15_000), 'ready\n');
});
