import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { caApi, stringStruct } from '../../agent/ca/ca-api.js';
import type { Logger } from '../../agent/telemetry/log.js';
import { meshnodeBin } from '../helpers/paths.js';

/** Shared by the ca-*.test.ts files: a real `meshnode ca` child process and a raw CA API client. */

export const TD = 'cluster.local';
export const NODE_AGENT = `spiffe://${TD}/ns/istio-system/sa/ztunnel`;
export const NODE_TOKEN = 'node-agent-token-0123456789abcdef';
export const WORKLOAD = `spiffe://${TD}/ns/shop/sa/cart`;
export const WORKLOAD_TOKEN = 'workload-token-0123456789abcdef';

export const TOKENS_YAML = `
- token: ${NODE_TOKEN}
  identity: ${NODE_AGENT}
  impersonate: ["spiffe://${TD}/ns/shop/sa/*", "spiffe://${TD}/ns/*/sa/ratings"]
- token: ${WORKLOAD_TOKEN}
  identity: ${WORKLOAD}
`;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CaProcess {
  readonly port: number;
  readonly dir: string;
  readonly proc: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

export function writeTokens(dir: string, yaml = TOKENS_YAML): string {
  const file = join(dir, 'tokens.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** Starts `meshnode ca` and resolves once it logs its bound port; rejects if it exits first. */
export function startCa(dir: string, args: string[] = [], listen = '127.0.0.1:0'): Promise<CaProcess> {
  const proc = spawn(process.execPath, [meshnodeBin, 'ca', '--dir', dir, '--listen', listen, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let pending = '';
  return new Promise((resolve, reject) => {
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        if (record.msg === 'listening') {
          const stop = () => new Promise<void>((done) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return done();
            proc.once('exit', () => done());
            proc.kill('SIGTERM');
          });
          resolve({ port: record.port as number, dir, proc, logs, stop });
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`meshnode ca exited with ${code}: ${stderr}`)));
  });
}

export interface CallOptions {
  readonly csr: string;
  readonly token?: string;
  readonly impersonate?: string;
  readonly ttlSeconds?: number;
  readonly clientCert?: { key: string; chain: string };
}

export type CallResult = { ok: true; chain: string[] } | { ok: false; code: grpc.status; details: string };

/** One raw CreateCertificate call over TLS verified with `rootPem`. */
export async function callCa(port: number, rootPem: string, opts: CallOptions): Promise<CallResult> {
  const creds = opts.clientCert
    ? grpc.credentials.createSsl(Buffer.from(rootPem), Buffer.from(opts.clientCert.key), Buffer.from(opts.clientCert.chain))
    : grpc.credentials.createSsl(Buffer.from(rootPem));
  const { Client } = caApi();
  const client = new Client(`127.0.0.1:${port}`, creds);
  const md = new grpc.Metadata();
  if (opts.token) md.set('authorization', `Bearer ${opts.token}`);
  const request = {
    csr: opts.csr, validity_duration: opts.ttlSeconds ?? 0,
    metadata: opts.impersonate ? stringStruct({ ImpersonatedIdentity: opts.impersonate }) : null,
  };
  try {
    return await new Promise<CallResult>((resolve) => {
      client.CreateCertificate(request, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, chain: res!.cert_chain });
      });
    });
  } finally {
    client.close();
  }
}

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A CSR made by OpenSSL (not by our own encoder): `keyAlg` like `rsa:2048` or `ec`. */
export function opensslCsr(dir: string, name: string, keyAlg: string, uri: string): { csr: string; keyFile: string } {
  const keyFile = join(dir, `${name}.key`);
  const keyArgs = keyAlg === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', keyAlg];
  const csr = openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', keyFile, '-subj', '/', '-addext', `subjectAltName=critical,URI:${uri}`]);
  return { csr, keyFile };
}

/** A Logger that keeps records in memory instead of writing them (in-process components). */
export function recordingLogger(records: Record<string, unknown>[] = [], component = 'test'): Logger {
  const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) => { records.push({ level, component, msg, ...fields }); };
  return {
    debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'),
    child: (name) => recordingLogger(records, `${component}.${name}`),
    enabled: () => true,
  };
}
