import { request } from 'node:http';
import { POD_API_PATHS, type EnrollmentAnswer, type PodRegistration } from '../agent/base/contracts/pod-api.js';
import { MeshnodeError } from '../agent/base/errors.js';

/**
 * Client for the agent's pod registration API: HTTP/1.1 over the agent's unix socket
 * (`--cni-socket`). Every call has a deadline; a dead or hung agent is an error, never a wait.
 */

/**
 * `unreachable`: no answer at all. `refused`: the agent answered with an error status, and
 * `reason` with its failure code when it gave one (e.g. `netns-in-use`).
 */
export class AgentError extends MeshnodeError {
  readonly code = 'ERR_AGENT';
  constructor(readonly kind: 'unreachable' | 'refused' | 'protocol', message: string, readonly status?: number, readonly reason?: string) {
    super(message);
  }
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
}

export class AgentClient {
  constructor(readonly socketPath: string, private readonly timeoutMs: number) {}

  async enrollment(namespace: string, name: string): Promise<EnrollmentAnswer> {
    const q = `namespace=${encodeURIComponent(namespace)}&name=${encodeURIComponent(name)}`;
    const reply = await this.call('GET', `${POD_API_PATHS.enrollment}?${q}`);
    const body = this.expectOk(reply, 'enrollment query');
    if (typeof body.enrolled !== 'boolean') throw new AgentError('protocol', 'agent enrollment answer has no boolean "enrolled"');
    return { enrolled: body.enrolled, reason: typeof body.reason === 'string' ? body.reason : '' };
  }

  /**
   * Resolves once the agent's listeners for the pod are open. `deadlineMs` tells the agent when this
   * client stops waiting, at 90% of the timeout so its answer still has time to arrive: a
   * registration the agent could only finish later is rolled back there instead of kept.
   */
  async register(pod: PodRegistration): Promise<void> {
    const deadlineMs = Date.now() + Math.round(this.timeoutMs * 0.9);
    this.expectOk(await this.call('POST', POD_API_PATHS.pods, { ...pod, deadlineMs }), 'pod registration');
  }

  /** Reports a pod left uncaptured, so the agent can capture it if it is enrolled later. */
  async observe(pod: Omit<PodRegistration, 'deadlineMs'>): Promise<void> {
    this.expectOk(await this.call('POST', POD_API_PATHS.observedPods, pod), 'report of an uncaptured pod');
  }

  async registration(uid: string): Promise<Record<string, unknown> | undefined> {
    const reply = await this.call('GET', POD_API_PATHS.pod(uid));
    return reply.status === 404 ? undefined : this.expectOk(reply, 'pod lookup');
  }

  async unregister(uid: string): Promise<void> {
    this.expectOk(await this.call('DELETE', POD_API_PATHS.pod(uid)), 'pod unregistration');
  }

  /** STATUS: any HTTP answer, whatever its status, proves the agent is serving. */
  async ping(): Promise<void> {
    await this.call('GET', POD_API_PATHS.enrollment).catch((err: unknown) => {
      if (!(err instanceof AgentError) || err.kind === 'unreachable') throw err;
    });
  }

  private expectOk(reply: Reply, what: string): Record<string, unknown> {
    const body = typeof reply.body === 'object' && reply.body !== null ? (reply.body as Record<string, unknown>) : {};
    if (reply.status !== 200) {
      const detail = typeof body.error === 'string' ? body.error : `HTTP ${reply.status}`;
      throw new AgentError('refused', `agent refused the ${what}: ${detail}`, reply.status, typeof body.reason === 'string' ? body.reason : undefined);
    }
    return body;
  }

  private call(method: string, path: string, payload?: unknown): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const body = payload === undefined ? undefined : JSON.stringify(payload);
      const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = request({ socketPath: this.socketPath, method, path, headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new AgentError('unreachable', `agent connection failed: ${err.message}`)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown;
          try {
            parsed = text === '' ? {} : JSON.parse(text);
          } catch {
            reject(new AgentError('protocol', `agent answered ${method} ${path} with non-JSON: ${text.slice(0, 200)}`, res.statusCode));
            return;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => {
        reject(new AgentError('unreachable', `cannot reach the meshnode agent at ${this.socketPath}: ${err.message}`));
      });
      req.end(body);
    });
  }
}
