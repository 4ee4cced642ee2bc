import test from 'ava';
import { formatAuthority, parseAuthority } from '../../agent/tunnel/authority.js';

const valid: [string, string, number][] = [
  ['10.0.0.1:8080', '10.0.0.1', 8080],
  ['[fd00::1]:80', 'fd00::1', 80],
  ['[::ffff:10.0.0.1]:443', '10.0.0.1', 443],
  ['1.2.3.4:65535', '1.2.3.4', 65535],
];
for (const [text, ip, port] of valid) {
  test(`authority ${text} parses to ${ip} port ${port}`, (t) => {
    t.deepEqual(parseAuthority(text), { ip, port });
  });
}

const invalid = ['', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:08', '[fd00::1:80', 'fd00::1:80',
  'a@10.0.0.1:80', 'localhost:80', '10.0.0.1 :80', '10.0.0.%31:80', '10.0.0.1:80x', '[10.0.0.1]:80'];
for (const text of invalid) {
  test(`authority "${text}" is refused with a reason`, (t) => {
    t.is(typeof parseAuthority(text), 'string');
  });
}

test('missing authority is refused', (t) => {
  t.is(parseAuthority(undefined), 'missing :authority');
});

test('IPv6 authorities are written in brackets', (t) => {
  t.is(formatAuthority({ ip: 'fd00::2', port: 15008 }), '[fd00::2]:15008');
  t.is(formatAuthority({ ip: '10.1.2.3', port: 80 }), '10.1.2.3:80');
});
