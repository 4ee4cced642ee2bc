import test from 'ava';
import { decodeSockaddr, encodeSockaddr, familyOf } from '../../agent/net/sockaddr.js';

const AF_INET = 2;
const AF_INET6 = 10;

const roundTrips: [string, number, string, number, string][] = [
  ['an IPv4 address', AF_INET, '10.1.2.3', 15001, '10.1.2.3'],
  ['the IPv4 wildcard', AF_INET, '0.0.0.0', 80, '0.0.0.0'],
  ['an IPv6 address', AF_INET6, 'fd00::1:2', 15008, 'fd00::1:2'],
  ['the IPv6 wildcard', AF_INET6, '::', 443, '::'],
  ['an IPv4-mapped IPv6 address (decoded as IPv4)', AF_INET6, '::ffff:10.0.0.7', 8080, '10.0.0.7'],
];

for (const [what, family, host, port, expected] of roundTrips) {
  test(`sockaddr encoding round-trips ${what}`, (t) => {
    t.deepEqual(decodeSockaddr(encodeSockaddr(family, host, port)), { address: expected, port });
  });
}

test('sockaddr_in has the Linux layout: family little-endian, port big-endian', (t) => {
  const buf = encodeSockaddr(AF_INET, '192.168.1.2', 0x1f90);
  t.is(buf.length, 16);
  t.deepEqual([...buf.subarray(0, 8)], [2, 0, 0x1f, 0x90, 192, 168, 1, 2]);
});

test('sockaddr_in6 is 28 bytes with the address at offset 8', (t) => {
  const buf = encodeSockaddr(AF_INET6, '::1', 1);
  t.is(buf.length, 28);
  t.is(buf[23], 1);
  t.is(buf.readUInt16LE(0), AF_INET6);
});

test('decoding a buffer of an unknown family yields undefined', (t) => {
  t.is(decodeSockaddr(Buffer.from([1, 0, 0, 80, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0])), undefined);
  t.is(decodeSockaddr(Buffer.alloc(2)), undefined);
});

test('the address family follows the literal', (t) => {
  t.is(familyOf('10.0.0.1'), AF_INET);
  t.is(familyOf('fd00::1'), AF_INET6);
  t.is(familyOf('::ffff:10.0.0.1'), AF_INET6);
  t.is(familyOf('example.com'), undefined);
});
