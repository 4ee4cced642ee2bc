import test from 'ava';
import { canonicalIp, cidrContains, ipToBytes, parseCidr } from '../../agent/base/ip.js';

const canonical: Array<[string, string | undefined]> = [
  ['10.0.0.1', '10.0.0.1'],
  ['::ffff:10.0.0.1', '10.0.0.1'],
  ['::FFFF:0a00:0001', '10.0.0.1'],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
  ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
  ['fe80::1%eth0', 'fe80::1'],
  ['::', '::'],
  ['::1', '::1'],
  ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ['10.0.0.256', undefined],
  ['not-an-ip', undefined],
  ['', undefined],
];
for (const [input, want] of canonical) {
  test(`canonicalIp(${JSON.stringify(input)}) is ${String(want)}`, (t) => {
    t.is(canonicalIp(input), want);
  });
}

const contains: Array<[string, string, boolean]> = [
  ['10.0.0.0/8', '10.1.2.3', true],
  ['10.0.0.0/8', '11.0.0.1', false],
  ['10.1.2.3', '10.1.2.3', true],
  ['10.1.2.3', '10.1.2.4', false],
  ['0.0.0.0/0', '192.0.2.1', true],
  ['0.0.0.0/0', '2001:db8::1', false],
  ['2001:db8::/32', '2001:db8:ffff::1', true],
  ['2001:db8::/32', '2001:db9::1', false],
  ['::ffff:10.0.0.0/104', '10.9.9.9', true],
  ['10.0.0.0/8', '::ffff:10.2.3.4', true],
  ['10.0.0.1/31', '10.0.0.0', true],
];
for (const [cidr, ip, want] of contains) {
  test(`${cidr} ${want ? 'contains' : 'does not contain'} ${ip}`, (t) => {
    const parsed = parseCidr(cidr);
    if (typeof parsed === 'string') return t.fail(parsed);
    t.is(cidrContains(parsed, ipToBytes(ip)!), want);
  });
}

for (const bad of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '2001:db8::/129', 'x/8', '10.0.0.0/08', '10.0.0.0/008', 'fe80::1%eth0/64', 'fe80::1%eth0']) {
  test(`parseCidr rejects ${bad} with a message naming it`, (t) => {
    const parsed = parseCidr(bad);
    t.is(typeof parsed, 'string');
    t.true((parsed as string).includes(bad));
  });
}
