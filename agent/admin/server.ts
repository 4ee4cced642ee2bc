import { getLogLevel, setLogLevel, type Logger } from '../telemetry/log.js';
import { HttpEndpoint } from '../base/http-endpoint.js';
import { jsonReplacer } from './config-dump.js';

export interface AdminDeps {
  /** CertManager.status(): one entry per identity. */
  readonly certs: () => readonly unknown[];
  readonly configDump: () => unknown;
  readonly pods: () => readonly unknown[];
  /** Starts the graceful drain (same path as SIGTERM). */
  readonly shutdown: (reason: string) => void;
  readonly log: Logger;
}

const ENDPOINTS: [string, string][] = [
  ['/certs', 'certificates per identity: serial, validity, next refresh, state, last error'],
  ['/config_dump', 'mesh snapshot, registered pods, certificates, effective config'],
  ['/pods', 'pods registered by the CNI plugin'],
  ['/logging', 'POST ?level=debug|info|warn|error sets the log level; POST alone shows it'],
  ['/quitquitquit', 'POST starts a graceful drain'],
];

type Reply = { status: number; type: 'json' | 'text'; body: unknown };

const json = (body: unknown, status = 200): Reply => ({ status, type: 'json', body });
const text = (body: string, status = 200): Reply => ({ status, type: 'text', body });

function logging(method: string, url: URL, log: Logger): Reply {
  if (method !== 'POST') return text('use POST /logging?level=<debug|info|warn|error>\n', 405);
  const level = url.searchParams.get('level');
  if (level === null) return text(`current log level is ${getLogLevel()}\n`);
  if (!setLogLevel(level)) return text(`invalid level "${level}"; use debug, info, warn or error\n`, 400);
  log.info('log level changed', { level });
  return text(`current log level is ${getLogLevel()}\n`);
}

function route(deps: AdminDeps, method: string, url: URL): Reply {
  switch (url.pathname) {
    case '/':
      return text(ENDPOINTS.map(([p, d]) => `${p.padEnd(14)} ${d}`).join('\n') + '\n');
    case '/certs':
      return json(deps.certs());
    case '/config_dump':
      return json(deps.configDump());
    case '/pods':
      return json(deps.pods());
    case '/logging':
      return logging(method, url, deps.log);
    case '/quitquitquit':
      if (method !== 'POST') return text('use POST /quitquitquit\n', 405);
      deps.shutdown('admin /quitquitquit');
      return text('shutdown now\n');
    default:
      return text(`no such endpoint: ${url.pathname}\n`, 404);
  }
}

/** Loopback peers only: 127.0.0.0/8, ::1 and their IPv4-mapped form. */
function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * The admin API on localhost: plain HTTP/1.1, JSON for data, text for actions. It can stop the
 * agent and change logging, so peers that are not on loopback are refused even when
 * --admin-address binds a wider address.
 */
export class AdminServer extends HttpEndpoint {
  constructor(deps: AdminDeps) {
    super((req, res) => {
      let reply: Reply;
      try {
        reply = isLoopback(req.socket.remoteAddress)
          ? route(deps, req.method ?? 'GET', new URL(req.url ?? '/', 'http://admin'))
          : text('the admin API is served to localhost only\n', 403);
      } catch (err) {
        deps.log.error('admin request failed', { url: req.url, error: err });
        reply = text(`${(err as Error).message}\n`, 500);
      }
      const body = reply.type === 'json' ? JSON.stringify(reply.body, jsonReplacer, 2) + '\n' : String(reply.body);
      res.writeHead(reply.status, { 'content-type': reply.type === 'json' ? 'application/json' : 'text/plain' });
      res.end(body);
      req.resume();
    });
  }
}
