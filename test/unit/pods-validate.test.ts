import test from 'ava';
import { PodBodyError, parseDeadline, parsePodBody } from '../../agent/pods/validate.js';

const good = { uid: 'u-1', namespace: 'shop', name: 'cart-0', netns: '/var/run/netns/cni-1', ips: ['10.0.0.5', 'FD00::5'] };

test('a valid body yields the pod with canonical, de-duplicated IPs', (t) => {
  t.deepEqual(parsePodBody({ ...good, ips: ['10.0.0.5', '::ffff:10.0.0.5', 'FD00::5'] }), { ...good, ips: ['10.0.0.5', 'fd00::5'] });
});

test('unknown fields are ignored so newer plugins work with older agents', (t) => {
  t.deepEqual(parsePodBody({ ...good, containerId: 'abc' }), { ...good, ips: ['10.0.0.5', 'fd00::5'] });
});

const capture = { probeAddress: '169.254.7.127', probeAddressV6: 'FD16:9254:7127:1337:ffff:ffff:ffff:ffff', hostProbeSnat: false };

test('the plugin\'s capture settings are kept with canonical addresses', (t) => {
  t.deepEqual(parsePodBody({ ...good, capture }).capture, { ...capture, probeAddressV6: 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff' });
});

const bad: [string, unknown, string][] = [
  ['capture that is not an object', { ...good, capture: 'yes' }, 'field "capture": must be an object'],
  ['an IPv6 probeAddress', { ...good, capture: { ...capture, probeAddress: 'fd00::1' } }, 'field "capture.probeAddress": "fd00::1" is not an IPv4 address'],
  ['a missing probeAddressV6', { ...good, capture: { ...capture, probeAddressV6: undefined } }, 'field "capture.probeAddressV6": undefined is not an IPv6 address'],
  ['a string hostProbeSnat', { ...good, capture: { ...capture, hostProbeSnat: 'true' } }, 'field "capture.hostProbeSnat": must be true or false, not "true"'],
  ['an array body', [good], 'field "$": the body must be a JSON object'],
  ['null', null, 'field "$": the body must be a JSON object'],
  ['a missing uid', { ...good, uid: undefined }, 'field "uid": is required'],
  ['an empty namespace', { ...good, namespace: '' }, 'field "namespace": must not be empty'],
  ['a numeric name', { ...good, name: 7 }, 'field "name": must be a string, not 7'],
  ['a relative netns path', { ...good, netns: 'netns/x' }, 'field "netns": "netns/x" is not an absolute path'],
  ['ips that is not an array', { ...good, ips: '10.0.0.1' }, 'field "ips": must be an array of IP addresses'],
  ['a bad IP', { ...good, ips: ['10.0.0.1', '10.0.0.300'] }, 'field "ips[1]": "10.0.0.300" is not an IP address'],
  ['a non-string IP', { ...good, ips: [4] }, 'field "ips[0]": 4 is not an IP address'],
  ['control characters', { ...good, name: 'a\nb' }, 'field "name": contains control characters'],
  ['missing ips', { ...good, ips: undefined }, 'field "ips": is required'],
];

for (const [what, body, message] of bad) {
  test(`a body with ${what} is refused naming the field`, (t) => {
    const err = t.throws(() => parsePodBody(body), { instanceOf: PodBodyError });
    t.is(err?.message, message);
  });
}

test('deadlineMs is optional, and when given must be a positive number', (t) => {
  t.is(parseDeadline(good), undefined);
  t.is(parseDeadline({ ...good, deadlineMs: 1_700_000_000_000 }), 1_700_000_000_000);
  for (const deadlineMs of ['soon', -1, 0, Number.NaN]) {
    t.throws(() => parseDeadline({ ...good, deadlineMs }), { instanceOf: PodBodyError, message: /^field "deadlineMs": must be a positive number/ });
  }
});
