import { AuthenticationV1Api, CoreV1Api, KubeConfig, Observable, type ConfigurationOptions, type V1TokenReviewStatus } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { MeshnodeError } from '../base/errors.js';

/**
 * The three Kubernetes API calls the CA makes, as the CA's own service account (in-cluster
 * config) or the user of a kubeconfig file: TokenReview, one pod by name, and whether any pod of
 * a service account runs on a node. Every call has a deadline, so an API server that accepts the
 * connection and never answers cannot hold a certificate request open.
 */

export interface PodFacts {
  readonly uid: string;
  readonly serviceAccount: string;
  readonly nodeName: string;
  readonly phase: string;
}

export interface KubeApi {
  review(token: string, audiences: readonly string[]): Promise<V1TokenReviewStatus>;
  /** The pod, or undefined when the API server says it does not exist. */
  pod(namespace: string, name: string): Promise<PodFacts | undefined>;
  /** Whether a pod of `namespace/serviceAccount` that has not failed is scheduled on `node`. */
  serviceAccountOnNode(namespace: string, serviceAccount: string, node: string): Promise<boolean>;
}

/** The API server did not answer, or answered with an error that says nothing about the caller. */
export class KubeApiError extends MeshnodeError {
  readonly code = 'ERR_CA_KUBE_API';
}

/** Loading the kubeconfig or the in-cluster config failed; fatal at start-up. */
export class KubeConfigError extends MeshnodeError {
  readonly code = 'ERR_CA_KUBE_CONFIG';
}

export const KUBE_CALL_TIMEOUT_MS = 3_000;

export const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

// The library builds an in-cluster config from whatever it finds, even outside a pod (a server
// of "https://:" and no token); that must be a start-up error, not 3 s timeouts on every request.
function inClusterProblem(): string | undefined {
  const env = process.env;
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) return 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod? give --kubeconfig)';
  if (!existsSync(IN_CLUSTER_TOKEN)) return `${IN_CLUSTER_TOKEN} does not exist (is the service-account token mounted?)`;
  return undefined;
}

export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  if (!kubeconfig) {
    const problem = inClusterProblem();
    if (problem) throw new KubeConfigError(`cannot load the in-cluster config: ${problem}`);
  }
  const kc = new KubeConfig();
  try {
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromCluster();
  } catch (err) {
    throw new KubeConfigError(`cannot load ${kubeconfig ? `kubeconfig ${kubeconfig}` : 'the in-cluster config'}: ${(err as Error).message}`, { cause: err });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new KubeConfigError(`kubeconfig ${kubeconfig} names no current cluster server`);
  return kc;
}

// The generated client takes per-call middleware, not a timeout; its abort signal ends both
// the request and the reading of the answer.
function withDeadline(timeoutMs: number): ConfigurationOptions {
  return {
    middleware: [{
      pre: (ctx) => { ctx.setSignal(AbortSignal.timeout(timeoutMs)); return new Observable(Promise.resolve(ctx)); },
      post: (res) => new Observable(Promise.resolve(res)),
    }],
    middlewareMergeStrategy: 'append',
  };
}

/** HTTP status of a failed client call, when the server answered at all. */
function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** The `message` of the Status object an API server answers errors with, when there is one. */
function statusMessage(err: unknown): string | undefined {
  let body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message.slice(0, 300) : undefined;
}

function failure(what: string, err: unknown, timeoutMs: number): KubeApiError {
  const code = statusOf(err);
  const message = statusMessage(err);
  const detail = code !== undefined ? `HTTP ${code}${message ? ` (${message})` : ''}`
    : (err as Error).name === 'AbortError' ? `no answer in ${timeoutMs} ms` : (err as Error).message;
  return new KubeApiError(`${what}: ${detail}`, { cause: err });
}

export function kubeApi(kc: KubeConfig, timeoutMs = KUBE_CALL_TIMEOUT_MS): KubeApi {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const options = () => withDeadline(timeoutMs);
  return {
    async review(token, audiences) {
      try {
        const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [...audiences] } };
        const answer = await authn.createTokenReview({ body }, options());
        return answer.status ?? {};
      } catch (err) {
        throw failure('TokenReview', err, timeoutMs);
      }
    },
    async pod(namespace, name) {
      try {
        const pod = await core.readNamespacedPod({ namespace, name }, options());
        return {
          uid: pod.metadata?.uid ?? '', serviceAccount: pod.spec?.serviceAccountName ?? '',
          nodeName: pod.spec?.nodeName ?? '', phase: pod.status?.phase ?? '',
        };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw failure(`get pod ${namespace}/${name}`, err, timeoutMs);
      }
    },
    async serviceAccountOnNode(namespace, serviceAccount, node) {
      // Field selectors keep this one small list call whatever the namespace's size.
      const fieldSelector = `spec.nodeName=${node},spec.serviceAccountName=${serviceAccount},status.phase!=Failed`;
      try {
        const list = await core.listNamespacedPod({ namespace, fieldSelector, limit: 1 }, options());
        return list.items.length > 0;
      } catch (err) {
        throw failure(`list pods of ${namespace}/${serviceAccount} on node ${node}`, err, timeoutMs);
      }
    },
  };
}
