import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../agent/process/run-command.js';
import { eventually } from './eventually.js';
import { repoRoot } from './paths.js';
import { missingTools } from './tools.js';

/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver built by
 * scripts/build-kube-peers.sh, started in a temporary directory on free loopback ports, with the
 * machine's kubectl as the client. There is no kubelet, scheduler or controller manager: tests set
 * `spec.nodeName` themselves, write pod status through the status subresource, and create the
 * service accounts they use (no controller makes `default`, so the ServiceAccount admission plugin,
 * which would require it, is off).
 */

/** Keep in step with `version` in scripts/build-kube-peers.sh. */
const PEERS_VERSION = 'k8s-v1.32.13-etcd-v3.5.16';
const peersBin = join(process.env.MESHNODE_PEERS_DIR ?? '/var/cache/meshnode/peers', PEERS_VERSION, 'bin');
const apiserverBin = join(peersBin, 'kube-apiserver');
const etcdBin = join(peersBin, 'etcd');
export const istioCrdsFile = join(repoRoot, 'deploy/crds/istio-minimal.yaml');
/** Issuer and audience of the service-account tokens the API server signs. */
export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';

let missingReason: { reason: string | undefined } | undefined;

/** Why the Kubernetes tests cannot run here (peers not built, kubectl or openssl missing), once per process. */
export function kubePeersMissing(): string | undefined {
  missingReason ??= { reason: checkPeers() };
  return missingReason.reason;
}

function checkPeers(): string | undefined {
  if (!existsSync(apiserverBin) || !existsSync(etcdBin)) return `kube peers not built: run scripts/build-kube-peers.sh (looked in ${peersBin})`;
  const tools = missingTools(['kubectl', 'openssl']);
  return tools.length > 0 ? `missing ${tools.join(', ')}` : undefined;
}

export interface KubeCluster {
  /** https://127.0.0.1:PORT, the secure port. */
  readonly server: string;
  /** An admin kubeconfig (client certificate in group system:masters). */
  readonly kubeconfig: string;
  /** CA of the API server's serving certificate. */
  readonly caFile: string;
  /** http://127.0.0.1:PORT of etcd, whose v3 HTTP gateway tests may use (e.g. to compact). */
  readonly etcd: string;
  kubectl(args: string[], input?: string): Promise<CommandResult>;
  /** `kubectl apply -f -`; throws with kubectl's stderr on failure. */
  apply(yaml: string): Promise<void>;
  /** Writes pod status through the status subresource. A Running pod is reported Ready unless `ready: false`. */
  setPodStatus(ns: string, name: string, status: PodStatus): Promise<void>;
  /** Stops and starts kube-apiserver on the same port; etcd and its data are kept. */
  restart(): Promise<void>;
  /** Stops kube-apiserver only (until `start()`), to test clients losing the API server. */
  stopApiserver(): Promise<void>;
  startApiserver(): Promise<void>;
  close(): Promise<void>;
}

export interface PodStatus {
  readonly podIP: string;
  readonly podIPs?: readonly string[];
  readonly phase?: string;
  readonly ready?: boolean;
}

export interface KubeClusterOptions {
  /** Install deploy/crds/istio-minimal.yaml (default true). */
  readonly crds?: boolean;
  /**
   * kube-apiserver's watch cache (default on, as in real clusters). Off, watches read etcd directly,
   * so compacting etcd makes an old resourceVersion answer 410 Gone at once.
   */
  readonly watchCache?: boolean;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** CA, serving certificate, admin client certificate and the service-account signing key. */
function makePki(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=meshnode-test-kube-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, subj: string, ext: string[]): void => {
    writeFileSync(join(dir, `${name}.ext`), ext.join('\n'));
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
  };
  leaf('serving', '/CN=kube-apiserver', ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc']);
  leaf('admin', '/O=system:masters/CN=meshnode-test-admin', ['basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']);
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'sa.key']);
  openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

interface Peer { readonly child: ChildProcess; readonly exited: Promise<void>; readonly logFile: string }

function startPeer(bin: string, args: string[], logFile: string): Peer {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, exited, logFile };
}

async function stopPeer(peer: Peer): Promise<void> {
  if (peer.child.exitCode !== null || peer.child.signalCode !== null) return;
  peer.child.kill('SIGTERM');
  const killer = setTimeout(() => peer.child.kill('SIGKILL'), 10_000);
  await peer.exited;
  clearTimeout(killer);
}

function logTail(peer: Peer): string {
  return readFileSync(peer.logFile, 'utf8').split('\n').slice(-20).join('\n');
}

/** GET `path` with the admin certificate; resolves with the status code. */
function adminGet(dir: string, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'GET', timeout: 5_000,
      ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'admin.crt')), key: readFileSync(join(dir, 'admin.key')),
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitUntil(peer: Peer, what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  await eventually(async () => {
    if (peer.child.exitCode !== null || peer.child.signalCode !== null) {
      throw new Error(`${what} exited during start-up:\n${logTail(peer)}`);
    }
    if (!(await check().catch(() => false))) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${logTail(peer)}`);
  }, timeoutMs);
}

export async function startKubeCluster(opts: KubeClusterOptions = {}): Promise<KubeCluster> {
  const missing = kubePeersMissing();
  if (missing !== undefined) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-kube-'));
  let etcd: Peer | undefined;
  let apiserver: Peer | undefined;
  const cleanup = async (): Promise<void> => {
    if (apiserver) await stopPeer(apiserver);
    if (etcd) await stopPeer(etcd);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    makePki(dir);
    const [etcdPort, etcdPeerPort, port] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    etcd = startPeer(etcdBin, ['--name', 'test', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `test=${peerUrl}`,
      '--unsafe-no-fsync', '--log-level', 'warn'], join(dir, 'etcd.log'));
    const etcdPeer = etcd;
    await waitUntil(etcdPeer, 'etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000);

    const apiserverArgs = ['--etcd-servers', etcdUrl, '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1',
      '--secure-port', String(port), '--cert-dir', join(dir, 'certs'),
      '--tls-cert-file', join(dir, 'serving.crt'), '--tls-private-key-file', join(dir, 'serving.key'),
      '--client-ca-file', join(dir, 'ca.crt'),
      '--service-account-issuer', SA_ISSUER, '--api-audiences', SA_ISSUER,
      '--service-account-key-file', join(dir, 'sa.pub'), '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--authorization-mode', 'RBAC', '--service-cluster-ip-range', '10.96.0.0/16',
      '--disable-admission-plugins', 'ServiceAccount', '--enable-priority-and-fairness=false', '--profiling=false',
      `--watch-cache=${opts.watchCache !== false}`, '--v', '1'];
    const startApiserver = async (): Promise<void> => {
      const peer = startPeer(apiserverBin, apiserverArgs, join(dir, 'apiserver.log'));
      apiserver = peer;
      await waitUntil(peer, 'kube-apiserver', async () => (await adminGet(dir, port, '/readyz')) === 200);
    };
    const stopApiserver = async (): Promise<void> => { if (apiserver) await stopPeer(apiserver); };
    await startApiserver();

    const server = `https://127.0.0.1:${port}`;
    const kubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      'clusters:', `- name: test`, '  cluster:', `    server: ${server}`, `    certificate-authority: ${join(dir, 'ca.crt')}`,
      'users:', '- name: admin', '  user:', `    client-certificate: ${join(dir, 'admin.crt')}`, `    client-key: ${join(dir, 'admin.key')}`,
      'contexts:', '- name: test', '  context: {cluster: test, user: admin}', '',
    ].join('\n'));
    const kubectl = (args: string[], input?: string): Promise<CommandResult> =>
      runCommand('kubectl', ['--kubeconfig', kubeconfig, ...args], input === undefined ? {} : { input });
    const must = async (args: string[], input?: string): Promise<CommandResult> => {
      const r = await kubectl(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r;
    };
    if (opts.crds !== false) {
      await must(['apply', '-f', istioCrdsFile]);
      await must(['wait', '--for=condition=Established', '--timeout=60s', '-f', istioCrdsFile]);
    }
    return {
      server, kubeconfig, caFile: join(dir, 'ca.crt'), etcd: etcdUrl, kubectl,
      async apply(yaml) { await must(['apply', '-f', '-'], yaml); },
      async setPodStatus(ns, name, status) {
        const phase = status.phase ?? 'Running';
        const ready = status.ready ?? phase === 'Running';
        const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        const patch = {
          status: {
            phase, podIP: status.podIP, podIPs: (status.podIPs ?? [status.podIP]).map((ip) => ({ ip })),
            conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }],
          },
        };
        await must(['patch', 'pod', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify(patch)]);
      },
      async restart() {
        await stopApiserver();
        await startApiserver();
      },
      stopApiserver,
      startApiserver,
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
