import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import { formatSpiffeId, type Identity, type SpiffeId } from '../base/spiffe-id.js';
import { CaRequestError, impersonationRefused, reviewUnavailable, unauthenticated } from './errors.js';
import { KubeApiError, type KubeApi } from './kube-api.js';
import { ReviewCache } from './review-cache.js';

/**
 * Bearer tokens checked by the Kubernetes API (TokenReview), and node agents' impersonation
 * checked as istiod's node authorizer does. Every refusal is a CaRequestError whose reason
 * names the exact cause for the CA log; the caller sees the opaque message only.
 */

export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';

export interface KubeCaller {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly identity: SpiffeId;
  /** The pod the token is bound to, from the review's user extra; absent for an unbound token. */
  readonly pod: { readonly name: string; readonly uid: string } | undefined;
}

export interface KubeAuthnOptions {
  readonly api: KubeApi;
  /** Audiences asked for in every review; the answer must echo at least one. */
  readonly audiences: readonly string[];
  /** `<namespace>/<service-account>` of the node agents that may impersonate. */
  readonly trustedNodeAccounts: ReadonlySet<string>;
  readonly trustDomain: string;
  readonly cacheTtlMs?: number;
  readonly cacheMaxEntries?: number;
}

export const REVIEW_CACHE_TTL_MS = 10_000;
export const REVIEW_CACHE_MAX_ENTRIES = 4096;

function firstExtra(status: V1TokenReviewStatus, key: string): string {
  return status.user?.extra?.[key]?.[0] ?? '';
}

/** The caller a TokenReview answer names, or the refusal it amounts to. */
export function callerFromReview(status: V1TokenReviewStatus, audiences: readonly string[], trustDomain: string): KubeCaller {
  if (status.error) throw unauthenticated(`TokenReview: ${status.error}`, 'token-invalid');
  if (status.authenticated !== true) throw unauthenticated('TokenReview: the token is not authenticated', 'token-invalid');
  const echoed = status.audiences ?? [];
  if (!echoed.some((a) => audiences.includes(a))) {
    throw unauthenticated(`TokenReview answered for audiences [${echoed.join(', ')}], none of the requested [${audiences.join(', ')}]`, 'wrong-audience');
  }
  const username = status.user?.username ?? '';
  if (!(status.user?.groups ?? []).includes(SERVICE_ACCOUNTS_GROUP)) {
    throw unauthenticated(`TokenReview: user "${username}" is not in group ${SERVICE_ACCOUNTS_GROUP}`, 'not-service-account');
  }
  const parts = username.split(':');
  if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount' || !parts[2] || !parts[3]) {
    throw unauthenticated(`TokenReview: user "${username}" is not system:serviceaccount:<namespace>:<name>`, 'not-service-account');
  }
  const [, , namespace, serviceAccount] = parts as [string, string, string, string];
  const name = firstExtra(status, POD_NAME_EXTRA);
  const uid = firstExtra(status, POD_UID_EXTRA);
  return {
    namespace, serviceAccount, identity: formatSpiffeId({ trustDomain, namespace, serviceAccount }),
    pod: name && uid ? { name, uid } : undefined,
  };
}

/** A refusal is an answer worth remembering; an API server that did not answer is not. */
const definitive = (err: unknown) => err instanceof CaRequestError && err.refusal !== 'review-unavailable';

export class KubeAuthenticator {
  private readonly cache: ReviewCache<KubeCaller>;

  constructor(private readonly options: KubeAuthnOptions) {
    this.cache = new ReviewCache({
      ttlMs: options.cacheTtlMs ?? REVIEW_CACHE_TTL_MS, maxEntries: options.cacheMaxEntries ?? REVIEW_CACHE_MAX_ENTRIES,
    });
  }

  authenticate(token: string): Promise<KubeCaller> {
    return this.cache.get(token, (t) => this.review(t), definitive);
  }

  /**
   * A trusted node account may obtain `wanted` when its token is bound to a pod that still
   * exists (same uid and service account) and a pod running as `wanted` is scheduled on that
   * pod's node: an agent can only obtain the identities of its own node's pods.
   */
  async authorizeImpersonation(caller: KubeCaller, wanted: Identity): Promise<void> {
    const account = `${caller.namespace}/${caller.serviceAccount}`;
    const wantedId = formatSpiffeId(wanted);
    if (!this.options.trustedNodeAccounts.has(account)) {
      throw impersonationRefused(`${account} is not a trusted node account (--trusted-node-accounts) and asked for ${wantedId}`, 'untrusted-node-account');
    }
    if (wanted.trustDomain !== this.options.trustDomain) {
      throw impersonationRefused(`${account} asked for ${wantedId}, outside trust domain ${this.options.trustDomain}`, 'impersonation-denied');
    }
    if (!caller.pod) {
      throw impersonationRefused(`the token of ${account} is not bound to a pod (no ${POD_NAME_EXTRA}/${POD_UID_EXTRA} in the TokenReview)`, 'caller-pod-mismatch');
    }
    const where = `${caller.namespace}/${caller.pod.name}`;
    const pod = await this.call(() => this.options.api.pod(caller.namespace, caller.pod!.name));
    if (!pod || pod.phase === 'Failed') throw impersonationRefused(`caller pod ${where} not found${pod ? ' (it has failed)' : ''}`, 'caller-pod-mismatch');
    if (pod.uid !== caller.pod.uid) {
      throw impersonationRefused(`caller pod ${where} found, but its uid ${pod.uid} is not the token's ${caller.pod.uid}`, 'caller-pod-mismatch');
    }
    if (pod.serviceAccount !== caller.serviceAccount) {
      throw impersonationRefused(`caller pod ${where} runs as ${pod.serviceAccount}, not as the token's ${caller.serviceAccount}`, 'caller-pod-mismatch');
    }
    if (!pod.nodeName) throw impersonationRefused(`caller pod ${where} is not scheduled on a node`, 'caller-pod-mismatch');
    const onNode = await this.call(() => this.options.api.serviceAccountOnNode(wanted.namespace, wanted.serviceAccount, pod.nodeName));
    if (!onNode) {
      throw impersonationRefused(`${account} (pod ${where}) asked for ${wantedId}, but no pod of ${wanted.namespace}/${wanted.serviceAccount} runs on node ${pod.nodeName}`, 'not-on-node');
    }
  }

  private async review(token: string): Promise<KubeCaller> {
    const status = await this.call(() => this.options.api.review(token, this.options.audiences));
    return callerFromReview(status, this.options.audiences, this.options.trustDomain);
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (err instanceof KubeApiError) throw reviewUnavailable(err.message);
      throw err;
    }
  }
}
