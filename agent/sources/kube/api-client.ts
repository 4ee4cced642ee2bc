import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { MeshnodeError } from '../../base/errors.js';

/** A request to the Kubernetes API failed: `status` is the HTTP status (0 when none arrived). */
export class KubeApiError extends MeshnodeError {
  readonly code = 'ERR_KUBE_API';
  constructor(message: string, readonly status: number, readonly reason = '', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The API server could not be configured from the kubeconfig or the pod's service account. */
export class KubeConfigError extends MeshnodeError {
  readonly code = 'ERR_KUBE_CONFIG';
}

/** Where the API is and how to authenticate to it. */
export interface KubeConnection {
  readonly server: string;
  /** TLS and Authorization for one request; re-evaluated per request so rotated tokens are used. */
  authorize(opts: RequestOptions): Promise<void>;
}

/**
 * In-cluster config (the pod's service-account token, CA and KUBERNETES_SERVICE_HOST/PORT) when
 * `kubeconfig` is undefined, that file's current context otherwise. The client library does the
 * parsing and the credentials, including re-reading a rotated projected token; it is loaded
 * only when the Kubernetes source is used.
 */
export async function loadKubeConnection(kubeconfig: string | undefined): Promise<KubeConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (kubeconfig === undefined) {
      if (!process.env.KUBERNETES_SERVICE_HOST) {
        throw new Error('KUBERNETES_SERVICE_HOST is not set (not running in a pod); give --kubeconfig FILE');
      }
      kc.loadFromCluster();
    } else {
      kc.loadFromFile(kubeconfig);
    }
  } catch (err) {
    throw new KubeConfigError(`cannot load the Kubernetes client config${kubeconfig === undefined ? '' : ` from ${kubeconfig}`}: ${(err as Error).message}`, { cause: err });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new KubeConfigError(`the Kubernetes client config${kubeconfig === undefined ? '' : ` ${kubeconfig}`} names no API server`);
  return { server: cluster.server.replace(/\/+$/, ''), authorize: (opts) => kc.applyToHTTPSOptions(opts) };
}

/** Kubernetes' Status object, as error bodies and watch ERROR events carry it. */
export interface KubeStatus {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** Bodies larger than this are refused: a list page is bounded by `limit`, so only a broken server sends more. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

/** A thin client over the connection: JSON GETs and line-streamed watches. */
export class KubeApi {
  constructor(private readonly conn: KubeConnection) {}

  get server(): string {
    return this.conn.server;
  }

  /** Starts a GET and resolves with the response once its status is in; non-2xx is a KubeApiError. */
  open(path: string, signal: AbortSignal): Promise<IncomingMessage> {
    return this.send('GET', path, undefined, signal);
  }

  /**
   * A JSON merge patch (RFC 7386) of one object; resolves once the server accepted it. A `null`
   * member in `patch` removes that field.
   */
  async mergePatch(path: string, patch: unknown, signal: AbortSignal): Promise<void> {
    const res = await this.send('PATCH', path, { type: 'application/merge-patch+json', text: JSON.stringify(patch) }, signal);
    res.resume();
  }

  private async send(method: string, path: string, body: { type: string; text: string } | undefined, signal: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(this.conn.server + path);
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (body) Object.assign(headers, { 'content-type': body.type, 'content-length': Buffer.byteLength(body.text) });
    const opts: RequestOptions = { method, headers, signal };
    await this.conn.authorize(opts);
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, opts, resolve);
      req.on('error', (err) => reject(new KubeApiError(`${method} ${path}: ${err.message}`, 0, '', { cause: err })));
      req.end(body?.text);
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const text = await readBody(res, path, 64 * 1024).catch(() => '');
    const parsed = parseStatus(text);
    throw new KubeApiError(`${method} ${path}: HTTP ${status}${parsed?.message ? `: ${parsed.message}` : ''}`, status, parsed?.reason ?? '');
  }

  async getJson<T>(path: string, signal: AbortSignal): Promise<T> {
    const res = await this.open(path, signal);
    const body = await readBody(res, path, MAX_BODY_BYTES);
    try {
      return JSON.parse(body) as T;
    } catch (err) {
      throw new KubeApiError(`GET ${path}: the answer is not JSON: ${(err as Error).message}`, res.statusCode ?? 0, '', { cause: err });
    }
  }
}

function readBody(res: IncomingMessage, path: string, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (b: Buffer) => {
      size += b.length;
      if (size > limit) {
        res.destroy();
        reject(new KubeApiError(`GET ${path}: answer larger than ${limit} bytes`, res.statusCode ?? 0));
        return;
      }
      chunks.push(b);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (err) => reject(new KubeApiError(`GET ${path}: ${err.message}`, res.statusCode ?? 0, '', { cause: err })));
  });
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? v as KubeStatus : undefined;
  } catch {
    return undefined;
  }
}
