import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../telemetry/log.js';
import { podRegistrations, type PodResult } from '../../metrics/agent.js';
import { PodRegistrationError } from './errors.js';
import { HttpError, readJson, sendJson } from './http-json.js';
import { POD_API_PATHS, type EnrollmentAnswer } from '../base/contracts/pod-api.js';
import { POD_PORT_LIST } from '../base/contracts/ports.js';
import { type Enrollment, type PodRegistry } from './registry.js';
import type { LiveEnrollment } from './live-enrollment.js';
import { PodBodyError, parseDeadline, parsePodBody } from './validate.js';

export const DEFAULT_CNI_SOCKET = '/var/run/meshnode/cni.sock';

export interface CniApiDeps {
  readonly registry: PodRegistry;
  readonly enrollment: (namespace: string, name: string) => Enrollment;
  /** Running pods the plugin left uncaptured, captured once they are enrolled. */
  readonly live: Pick<LiveEnrollment, 'observe' | 'forget'>;
  readonly log: Logger;
}

const POD_PATH = /^\/v1\/pods\/([^/]+)$/;

function resultOf(err: unknown): PodResult {
  if (err instanceof PodBodyError || err instanceof HttpError) return 'bad_request';
  if (err instanceof PodRegistrationError) {
    if (err.failure === 'netns-in-use' || err.failure === 'netns-of-node') return 'bad_request';
    if (err.failure === 'deadline-passed') return 'failed';
    return err.failure === 'not-enrolled' ? 'not_enrolled' : err.failure === 'listeners-failed' ? 'failed' : 'netns_missing';
  }
  return 'failed';
}

async function addPod(deps: CniApiDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  try {
    const body = await readJson(req);
    const pod = parsePodBody(body);
    await deps.registry.register(pod, parseDeadline(body));
    podRegistrations.inc({ operation: 'add', result: 'success' });
    sendJson(res, 200, { uid: pod.uid, listeners: POD_PORT_LIST });
  } catch (err) {
    podRegistrations.inc({ operation: 'add', result: resultOf(err) });
    throw err;
  }
}

async function observePod(deps: CniApiDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const pod = parsePodBody(await readJson(req));
  const verdict = await deps.live.observe(pod);
  sendJson(res, 200, { uid: pod.uid, enrolled: verdict.enrolled, reason: verdict.reason });
}

async function deletePod(deps: CniApiDeps, uid: string, res: http.ServerResponse): Promise<void> {
  try {
    await deps.live.forget(uid);
    const { removed } = await deps.registry.unregister(uid);
    podRegistrations.inc({ operation: 'delete', result: 'success' });
    sendJson(res, 200, { uid, removed });
  } catch (err) {
    podRegistrations.inc({ operation: 'delete', result: 'failed' });
    throw err;
  }
}

function enrollment(deps: CniApiDeps, url: URL, res: http.ServerResponse): void {
  const namespace = url.searchParams.get('namespace');
  const name = url.searchParams.get('name');
  if (!namespace) throw new HttpError(400, 'query parameter "namespace" is required');
  if (!name) throw new HttpError(400, 'query parameter "name" is required');
  const verdict = deps.enrollment(namespace, name);
  const answer: EnrollmentAnswer = { enrolled: verdict.enrolled, reason: verdict.reason };
  sendJson(res, 200, answer);
}

function route(deps: CniApiDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | void {
  const url = new URL(req.url ?? '/', 'http://cni');
  const method = req.method ?? 'GET';
  if (url.pathname === POD_API_PATHS.enrollment) {
    if (method !== 'GET') throw new HttpError(405, `use GET ${POD_API_PATHS.enrollment}?namespace=NS&name=NAME`);
    return enrollment(deps, url, res);
  }
  if (url.pathname === POD_API_PATHS.observedPods) {
    if (method !== 'POST') throw new HttpError(405, `use POST ${POD_API_PATHS.observedPods}`);
    return observePod(deps, req, res);
  }
  if (url.pathname === POD_API_PATHS.pods) {
    if (method === 'POST') return addPod(deps, req, res);
    if (method === 'GET') return sendJson(res, 200, deps.registry.list());
    throw new HttpError(405, `use POST ${POD_API_PATHS.pods} or GET ${POD_API_PATHS.pods}`);
  }
  const m = POD_PATH.exec(url.pathname);
  if (!m) throw new HttpError(404, `no such endpoint: ${url.pathname}`);
  let uid: string;
  try {
    uid = decodeURIComponent(m[1]!);
  } catch {
    throw new HttpError(400, `pod uid in ${url.pathname} is not valid percent-encoding`);
  }
  if (method === 'DELETE') return deletePod(deps, uid, res);
  if (method !== 'GET') throw new HttpError(405, 'use GET or DELETE /v1/pods/{uid}');
  const pod = deps.registry.get(uid);
  if (!pod) throw new HttpError(404, `pod ${uid} is not registered`);
  return sendJson(res, 200, pod);
}

function statusOf(err: unknown): number {
  if (err instanceof HttpError || err instanceof PodRegistrationError) return err.status;
  if (err instanceof PodBodyError) return 400;
  return 500;
}

/**
 * The CNI-facing API: HTTP/1.1 on a unix socket (mode 0600, so only root — the CNI plugin —
 * can reach it). Every error answers `{error}` with a message the plugin can pass on.
 */
export class CniApiServer {
  private readonly server: http.Server;
  /** Inode of the socket we bound: a newer agent may have taken the path over since. */
  private bound: { dev: number; ino: number } | undefined;

  constructor(private readonly deps: CniApiDeps, readonly socketPath: string) {
    this.server = http.createServer((req, res) => {
      Promise.resolve()
        .then(() => route(deps, req, res))
        .catch((err: unknown) => {
          const status = statusOf(err);
          if (status >= 500) deps.log.error('cni api request failed', { method: req.method, url: req.url, error: err });
          else deps.log.info('cni api request refused', { method: req.method, url: req.url, status, reason: (err as Error).message });
          // `reason` lets the plugin tell refusals apart (it must not undo rules of a netns in use).
          const reason = err instanceof PodRegistrationError ? { reason: err.failure } : {};
          if (!res.headersSent) sendJson(res, status, { error: (err as Error).message, ...reason });
        });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
  }

  /**
   * Binds the socket, replacing one left by a previous agent. The socket is bound under a private
   * name and renamed into place: the path never dangles during a takeover, and closing the older
   * server (libuv unlinks the path it bound) cannot remove the newer agent's socket.
   */
  async start(): Promise<void> {
    await mkdir(dirname(this.socketPath), { recursive: true, mode: 0o755 });
    const existing = await lstat(this.socketPath).catch(() => undefined);
    if (existing && !existing.isSocket()) throw new Error(`${this.socketPath} exists and is not a socket; refusing to replace it`);
    const privatePath = join(dirname(this.socketPath), `.${basename(this.socketPath)}.${process.pid}-${randomBytes(4).toString('hex')}`);
    const listening = new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.once('listening', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // Node binds the path synchronously inside listen(); the umask covers the moment between
    // bind() and chmod(), so the socket is never reachable by other users.
    const umask = process.umask(0o177);
    try {
      this.server.listen(privatePath);
    } finally {
      process.umask(umask);
    }
    await listening;
    await chmod(privatePath, 0o600);
    const st = await lstat(privatePath);
    this.bound = { dev: st.dev, ino: st.ino };
    await rename(privatePath, this.socketPath);
    this.deps.log.info('cni api listening', { socket: this.socketPath });
  }

  /**
   * Stops accepting, closes idle connections, removes the socket file — unless a newer agent
   * (rolling update) has replaced it, whose socket must survive this one's drain.
   */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
    const st = await lstat(this.socketPath).catch(() => undefined);
    if (st && this.bound && st.dev === this.bound.dev && st.ino === this.bound.ino) await rm(this.socketPath, { force: true });
  }
}
