import http from 'node:http';
import { MeshnodeError } from '../../base/errors.js';
import { parseHostPort } from '../flags.js';

/**
 * The HTTP client of `meshnode ctl` and `authz check --admin`: one request to a running agent's
 * admin API (localhost:15000 by default). The admin API answers JSON for data and one text line
 * for a refused query; both are turned into what the command prints.
 */
export const DEFAULT_ADMIN = '127.0.0.1:15000';
const TIMEOUT_MS = 10_000;

/** The agent could not be asked, or refused the question; the message says which. */
export class AdminCallError extends MeshnodeError {
  readonly code = 'ERR_ADMIN_CALL';
}

export interface AdminTarget {
  readonly host: string;
  readonly port: number;
}

export function adminTarget(text: string | undefined, flag = 'admin'): AdminTarget {
  return parseHostPort(text ?? DEFAULT_ADMIN, flag);
}

function hostText(t: AdminTarget): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** One request; resolves with the body of a 2xx answer, rejects with AdminCallError otherwise. */
export function callAdmin(target: AdminTarget, method: 'GET' | 'POST', path: string, query: Record<string, string | undefined> = {},
  timeoutMs = TIMEOUT_MS): Promise<string> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, v);
  const search = params.size > 0 ? `?${params.toString()}` : '';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.host, port: target.port, method, path: path + search, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(body);
        else reject(new AdminCallError(`the agent at ${hostText(target)} answered ${status} to ${path}: ${body.trim()}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ECONNREFUSED' ? 'connection refused (is `meshnode agent` running there? --admin HOST:PORT names another)' : err.message;
      reject(new AdminCallError(`cannot reach the admin API at ${hostText(target)}: ${why}`));
    });
    req.end();
  });
}

export async function getJson<T>(target: AdminTarget, path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  return JSON.parse(await callAdmin(target, 'GET', path, query)) as T;
}
