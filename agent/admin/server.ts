import type { Readable } from 'node:stream';
import { logLevels, type Logger } from '../telemetry/log.js';
import { HttpEndpoint } from '../base/http-endpoint.js';
import type { CompiledPolicies } from '../authz/index.js';
import type { MeshSnapshot } from '../model/types.js';
import type { MeshView } from '../state/types.js';
import { jsonReplacer } from './config-dump.js';
import { AdminRequestError } from './errors.js';
import { changeLevels, currentLevels } from './logging.js';
import { cpuProfile, heapSnapshot } from './profiling.js';
import { authzCheck } from './authz-check.js';
import { tlsCheck } from './tls-check.js';
import { filtersOf, identityNamespace, policyRows, serviceRows, workloadRows } from './views.js';

export interface AdminDeps {
  /** CertManager.status(): one entry per identity. */
  readonly certs: () => readonly { identity: string }[];
  readonly configDump: () => unknown;
  readonly pods: () => readonly unknown[];
  /** The live mesh state and its compiled policies. */
  readonly mesh: MeshView & { snapshot(): MeshSnapshot; readonly policies: CompiledPolicies };
  /** Open proxied connections, described with the access log's field names. */
  readonly connections: () => Promise<readonly Record<string, unknown>[]>;
  /** Sources, certificates, captured pods and readiness in one object (`meshnode ctl status`). */
  readonly status: () => Promise<unknown>;
  /** Starts the graceful drain (same path as SIGTERM). */
  readonly shutdown: (reason: string) => void;
  readonly log: Logger;
}

const ENDPOINTS: [string, string][] = [
  ['/status', 'sources and their sync state, certificate health, captured pods, readiness blockers'],
  ['/workloads', 'workloads (?namespace= &node= &workload=)'],
  ['/services', 'services with their endpoint counts (?namespace=)'],
  ['/policies', 'authorization policies (?namespace=)'],
  ['/certificates', 'certificates per identity: serial, validity, next refresh, state, last error (?namespace=); also /certs'],
  ['/connections', 'open proxied connections (?namespace= &workload=)'],
  ['/tls-check', '?src=NS/NAME&dst=NS/NAME[&port=N]: mTLS or plaintext, and the authorization decision'],
  ['/authz/check', '?to=NS/NAME&port=N&from-ip=IP&(from-identity=ID|plaintext)[&to-ip=IP]: the live decision'],
  ['/config_dump', 'mesh snapshot, registered pods, certificates, effective config'],
  ['/pods', 'pods registered by the CNI plugin'],
  ['/logging', 'GET: levels as JSON; POST ?level=LEVEL or ?level=COMPONENT=LEVEL,... [&reset] changes them'],
  ['/debug/pprof/heap', 'a V8 heap snapshot (.heapsnapshot); stops the event loop while it is written'],
  ['/debug/pprof/profile', 'a CPU profile (.cpuprofile); ?seconds=1..300 (10) &frequency=1..1000 Hz (100)'],
  ['/quitquitquit', 'POST starts a graceful drain'],
];

type Reply =
  | { status: number; type: 'json' | 'text'; body: unknown }
  | { status: 200; type: 'stream'; body: Readable; filename: string };

const json = (body: unknown, status = 200): Reply => ({ status, type: 'json', body });
const text = (body: string, status = 200): Reply => ({ status, type: 'text', body });

function logging(method: string, url: URL, log: Logger): Reply {
  if (method === 'GET') return json(logLevels());
  if (method !== 'POST') return text('use GET /logging, or POST /logging?level=<LEVEL|COMPONENT=LEVEL,...>\n', 405);
  return text(url.search === '' ? currentLevels() : changeLevels(url, log));
}

/** Rows whose workload fields match the query's `namespace` and `workload`. */
async function connectionRows(deps: AdminDeps, url: URL): Promise<readonly Record<string, unknown>[]> {
  const { namespace, workload } = filtersOf(url);
  return (await deps.connections()).filter((c) => {
    const ns = [c['src.namespace'], c['dst.namespace']];
    const names = [c['src.workload'], c['dst.workload'], String(c.pod).split('/')[1]];
    return (!namespace || ns.includes(namespace)) && (!workload || names.includes(workload));
  });
}

function route(deps: AdminDeps, method: string, url: URL): Reply | Promise<Reply> {
  const filters = filtersOf(url);
  switch (url.pathname) {
    case '/':
      return text(ENDPOINTS.map(([p, d]) => `${p.padEnd(21)} ${d}`).join('\n') + '\n');
    case '/status':
      return deps.status().then(json);
    case '/workloads':
      return json(workloadRows(deps.mesh.snapshot(), deps.mesh, filters));
    case '/services':
      return json(serviceRows(deps.mesh.snapshot(), deps.mesh, filters));
    case '/policies':
      return json(policyRows(deps.mesh.snapshot(), filters));
    case '/certs':
    case '/certificates':
      return json(deps.certs().filter((c) => !filters.namespace || identityNamespace(c.identity) === filters.namespace));
    case '/connections':
      return connectionRows(deps, url).then(json);
    case '/tls-check':
      return json(tlsCheck(deps.mesh, deps.mesh.policies, url));
    case '/authz/check':
      return json(authzCheck(deps.mesh, deps.mesh.policies, url));
    case '/config_dump':
      return json(deps.configDump());
    case '/pods':
      return json(deps.pods());
    case '/logging':
      return logging(method, url, deps.log);
    case '/debug/pprof/heap':
      deps.log.warn('writing a heap snapshot: the event loop stops until it is done');
      return { status: 200, type: 'stream', body: heapSnapshot(), filename: `meshnode-${Date.now()}.heapsnapshot` };
    case '/debug/pprof/profile':
      return cpuProfile(url).then((profile) => json(profile));
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

async function answer(deps: AdminDeps, method: string, url: URL): Promise<Reply> {
  try {
    return await route(deps, method, url);
  } catch (err) {
    if (err instanceof AdminRequestError) return text(`${err.message}\n`, err.status);
    deps.log.error('admin request failed', { url: url.pathname, error: err });
    return text(`${(err as Error).message}\n`, 500);
  }
}

/**
 * The admin API on localhost: plain HTTP/1.1, JSON for data, text for actions. It can stop the
 * agent, change logging and profile the process, so peers that are not on loopback are refused
 * even when --admin-address binds a wider address.
 */
export class AdminServer extends HttpEndpoint {
  constructor(deps: AdminDeps) {
    super((req, res) => {
      req.resume();
      const reply = isLoopback(req.socket.remoteAddress)
        ? answer(deps, req.method ?? 'GET', new URL(req.url ?? '/', 'http://admin'))
        : Promise.resolve(text('the admin API is served to localhost only\n', 403));
      void reply.then((r) => {
        if (r.type === 'stream') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${r.filename}"` });
          r.body.on('error', (err) => res.destroy(err)).pipe(res);
          return;
        }
        const body = r.type === 'json' ? JSON.stringify(r.body, jsonReplacer, 2) + '\n' : String(r.body);
        res.writeHead(r.status, { 'content-type': r.type === 'json' ? 'application/json' : 'text/plain' });
        res.end(body);
      });
    });
  }
}
