import test from 'ava';
import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import { CaRequestError, reviewUnavailable, unauthenticated } from '../../agent/ca/errors.js';
import { callerFromReview, POD_NAME_EXTRA, POD_UID_EXTRA } from '../../agent/ca/kube-authn.js';
import { ReviewCache } from '../../agent/ca/review-cache.js';

/**
 * How a TokenReview answer becomes a caller (or a refusal), and the bounded cache of answers.
 * The live API server path is in test/integration/ca-kube.test.ts.
 */

const AUD = ['istio-ca'];
const answer = (over: Partial<V1TokenReviewStatus> = {}): V1TokenReviewStatus => ({
  authenticated: true, audiences: ['istio-ca'],
  user: {
    username: 'system:serviceaccount:meshnode-system:meshnode', groups: ['system:serviceaccounts', 'system:authenticated'],
    extra: { [POD_NAME_EXTRA]: ['meshnode-a'], [POD_UID_EXTRA]: ['0f1e'] },
  },
  ...over,
});

function refusal(status: V1TokenReviewStatus): { refusal: string; reason: string } {
  try {
    callerFromReview(status, AUD, 'cluster.local');
  } catch (err) {
    if (err instanceof CaRequestError) return { refusal: err.refusal, reason: err.reason };
    throw err;
  }
  throw new Error('accepted');
}

test('a pod-bound service-account token names the account, its SPIFFE id and the pod', (t) => {
  t.deepEqual(callerFromReview(answer(), AUD, 'cluster.local'), {
    namespace: 'meshnode-system', serviceAccount: 'meshnode', identity: 'spiffe://cluster.local/ns/meshnode-system/sa/meshnode',
    pod: { name: 'meshnode-a', uid: '0f1e' },
  });
  t.is(callerFromReview(answer({ user: { ...answer().user, extra: {} } }), AUD, 'td').pod, undefined);
});

const refused: [string, V1TokenReviewStatus, string, RegExp][] = [
  ['an error in the answer', answer({ error: 'token audiences ["x"] is invalid' }), 'token-invalid', /audiences \["x"\] is invalid/],
  ['authenticated false', answer({ authenticated: false }), 'token-invalid', /not authenticated/],
  ['no audience echoed (an audience-unaware reviewer)', answer({ audiences: [] }), 'wrong-audience', /none of the requested \[istio-ca\]/],
  ['another audience echoed', answer({ audiences: ['api'] }), 'wrong-audience', /audiences \[api\]/],
  ['a user outside system:serviceaccounts', answer({ user: { ...answer().user, groups: ['system:authenticated'] } }), 'not-service-account', /not in group system:serviceaccounts/],
  ['a user name of the wrong shape', answer({ user: { ...answer().user, username: 'system:serviceaccount:ns' } }), 'not-service-account', /is not system:serviceaccount/],
  ['a user name with an empty account', answer({ user: { ...answer().user, username: 'system:serviceaccount:ns:' } }), 'not-service-account', /is not system:serviceaccount/],
  ['a user name with more parts', answer({ user: { ...answer().user, username: 'system:serviceaccount:a:b:c' } }), 'not-service-account', /is not system:serviceaccount/],
];

for (const [what, status, expected, reason] of refused) {
  test(`TokenReview answer with ${what} is refused as ${expected}`, (t) => {
    const r = refusal(status);
    t.is(r.refusal, expected);
    t.regex(r.reason, reason);
  });
}

test('the cache answers a token from one review until its TTL, and shares a review in flight', async (t) => {
  let now = 0;
  let reviews = 0;
  const cache = new ReviewCache<string>({ ttlMs: 1000, maxEntries: 10, now: () => now });
  const review = async (token: string) => { reviews++; return `caller of ${token}`; };
  const [a, b] = await Promise.all([cache.get('tok', review, () => true), cache.get('tok', review, () => true)]);
  t.is(a, 'caller of tok');
  t.is(b, a);
  t.is(reviews, 1);
  now = 999;
  await cache.get('tok', review, () => true);
  t.is(reviews, 1);
  now = 1000;
  await cache.get('tok', review, () => true);
  t.is(reviews, 2);
});

test('a definitive refusal is cached; an API server that did not answer is asked again', async (t) => {
  let reviews = 0;
  const cache = new ReviewCache<string>({ ttlMs: 60_000, maxEntries: 10 });
  const cacheable = (err: unknown) => err instanceof CaRequestError && err.refusal !== 'review-unavailable';
  const refuse = async () => { reviews++; throw unauthenticated('not authenticated', 'token-invalid'); };
  await t.throwsAsync(cache.get('bad', refuse, cacheable));
  await t.throwsAsync(cache.get('bad', refuse, cacheable));
  t.is(reviews, 1);
  const down = async () => { reviews++; throw reviewUnavailable('TokenReview: no answer in time'); };
  await t.throwsAsync(cache.get('other', down, cacheable));
  t.is(await cache.get('other', async () => { reviews++; return 'caller'; }, cacheable), 'caller');
  t.is(reviews, 3);
});

test('the cache holds at most maxEntries, dropping the oldest', async (t) => {
  const cache = new ReviewCache<string>({ ttlMs: 60_000, maxEntries: 3 });
  let reviews = 0;
  const review = async (token: string) => { reviews++; return token; };
  for (const token of ['t1', 't2', 't3', 't4']) await cache.get(token, review, () => true);
  t.is(cache.size, 3);
  await cache.get('t4', review, () => true);
  t.is(reviews, 4, 't4 is still cached');
  await cache.get('t1', review, () => true);
  t.is(reviews, 5, 't1 was evicted and is reviewed again');
});
