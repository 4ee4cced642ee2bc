import test from 'ava';
import type { ExecutionContext } from 'ava';
import { HpackDecoder, HpackEncoder, HpackError } from '../../agent/h2/hpack.js';
import { huffmanDecode } from '../../agent/h2/hpack-huffman.js';

type Fields = Array<[string, string]>;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decoder(opts: Partial<{ maxTableSize: number; maxHeaderListSize: number; maxHeaderPairs: number }> = {}): HpackDecoder {
  return new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 65536, maxHeaderPairs: 1000, ...opts });
}

/** An integer with an N-bit prefix, written here independently of the encoder under test. */
function int(value: number, prefix: number, flags: number): number[] {
  const mask = (1 << prefix) - 1;
  if (value < mask) return [flags | value];
  const out = [flags | mask];
  let rest = value - mask;
  for (; rest >= 128; rest = Math.floor(rest / 128)) out.push((rest % 128) | 0x80);
  out.push(rest);
  return out;
}

/**
 * The dynamic table, newest first, read through the decoder's own interface: indexed fields
 * 62, 63… until one is past the end. An indexed field does not change the table.
 */
function table(d: HpackDecoder): Fields {
  const out: Fields = [];
  for (let i = 62; ; i++) {
    try {
      out.push(...d.decode(Buffer.from(int(i, 7, 0x80))).fields);
    } catch (err) {
      if (err instanceof HpackError && err.message.includes('beyond the dynamic table')) return out;
      throw err;
    }
  }
}

function rejects(t: ExecutionContext, d: HpackDecoder, block: string, message: RegExp): void {
  const err = t.throws(() => d.decode(hex(block)), { instanceOf: HpackError, message });
  t.is(err?.code, 'ERR_HPACK');
}

// RFC 7541 Appendix C.3 / C.4 requests and C.5 / C.6 responses: the same fields and tables,
// without and with Huffman.
const REQUESTS: Fields[] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const REQUEST_TABLES: Fields[] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: Fields[] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]],
  [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
];
const RESPONSE_TABLES: Fields[] = [
  [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
];

function sequence(t: ExecutionContext, d: HpackDecoder, blocks: string[], fields: Fields[], tables: Fields[]): void {
  blocks.forEach((block, i) => {
    t.deepEqual(d.decode(hex(block)), { fields: fields[i]!, oversize: false }, `block ${i + 1}`);
    t.deepEqual(table(d), tables[i]!, `table after block ${i + 1}`);
  });
}

test('C.2.1 literal with indexing adds to the dynamic table', (t) => {
  const d = decoder();
  t.deepEqual(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).fields, [['custom-key', 'custom-header']]);
  t.deepEqual(table(d), [['custom-key', 'custom-header']]);
});

test('C.2.2 literal without indexing and C.2.3 never indexed leave the table empty', (t) => {
  const d = decoder();
  t.deepEqual(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468')).fields, [[':path', '/sample/path']]);
  t.deepEqual(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).fields, [['password', 'secret']]);
  t.deepEqual(table(d), []);
});

test('C.2.4 indexed static field', (t) => {
  const d = decoder();
  t.deepEqual(d.decode(hex('82')), { fields: [[':method', 'GET']], oversize: false });
  t.deepEqual(table(d), []);
});

test('C.3 requests without Huffman share one dynamic table', (t) => {
  sequence(t, decoder(), [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ], REQUESTS, REQUEST_TABLES);
});

test('C.4 requests with Huffman share one dynamic table', (t) => {
  sequence(t, decoder(), [
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ], REQUESTS, REQUEST_TABLES);
});

test('C.5 responses without Huffman evict from a 256-octet table', (t) => {
  sequence(t, decoder({ maxTableSize: 256 }), [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e'
      + '1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d'
      + '4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076'
      + '6572 7369 6f6e 3d31',
  ], RESPONSES, RESPONSE_TABLES);
});

test('C.6 responses with Huffman evict from a 256-octet table', (t) => {
  sequence(t, decoder({ maxTableSize: 256 }), [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b'
      + '97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf'
      + 'cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ], RESPONSES, RESPONSE_TABLES);
});

test('blocks from python hpack (Huffman, indexing, octets above 0x7f, a size update) decode in sequence', (t) => {
  // Generated once with python hpack 4.2.0's Encoder (an independent implementation) and checked
  // there by its Decoder; the third block opens with a table size update to 100.
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  sequence(t, decoder(), [
    '4287bdab4e9c17b7ff418a081702ecaeedc780f03f40858c734c398b95eaf217acf22f50e92c03faeaf217a9104859476d094084f2b466ab97'
      + 'ff9fffffff2bfffff77fff9eefffffe3fffedffffc4a7f',
    'c1c0bf7e9093fffe3ffffb7ffffa3fffffa3fffe6f40884d83216b1d85a93fa7001600e575c6c2f85c248d33248f34d3c58c41091e03217c8b'
      + '46e8e4723742e3e2032cb215801f',
    '3f45884084f2b466aba5fff737fffe8ffffecfffe8fffffebff5fffffebffffcffffd4fffffebfff3ffffbb5f1fff340884d83216b1d85a93f'
      + 'a7001600e575c6c2f85c248d33248f34d3c58c41091e03217c8b46e8e4723742e3e2032cb215801f418a081702ecaeedc780f03f',
  ], [
    [[':method', 'CONNECT'], [':authority', '10.0.3.7:8080'], ['baggage', 'k8s.pod.name=a,k8s.ns=default'], ['x-bin', '|\x16%\xff\xe5B\xdd\xe2\x96 ']],
    [[':method', 'CONNECT'], [':authority', '10.0.3.7:8080'], ['baggage', 'k8s.pod.name=a,k8s.ns=default'], ['x-bin', 'd\xba\x8a\xa5\x08\xbe'],
      ['traceparent', traceparent]],
    [[':status', '200'], ['x-bin', "}K\xa5\x90\x83\x0e'\x19\xe7\x85\x0e^\x94PV^"], ['traceparent', traceparent], [':authority', '10.0.3.7:8080']],
  ], [
    [['x-bin', '|\x16%\xff\xe5B\xdd\xe2\x96 '], ['baggage', 'k8s.pod.name=a,k8s.ns=default'], [':authority', '10.0.3.7:8080'], [':method', 'CONNECT']],
    [['traceparent', traceparent], ['x-bin', 'd\xba\x8a\xa5\x08\xbe'], ['x-bin', '|\x16%\xff\xe5B\xdd\xe2\x96 '],
      ['baggage', 'k8s.pod.name=a,k8s.ns=default'], [':authority', '10.0.3.7:8080'], [':method', 'CONNECT']],
    // 100 octets hold one of traceparent (98) or :authority (55): the later one evicts the other.
    [[':authority', '10.0.3.7:8080']],
  ]);
});

test('Huffman decodes every octet (python hpack encoding of 0x00..0xff)', (t) => {
  const all = hex(
    'ffc7fffd8fffffe2fffffe3fffffe4fffffe5fffffe6fffffe7fffffe8ffffeafffffff3fffffa7fffffabffffffdfffffebfffffecfffffedf'
    + 'ffffeefffffefffffff0ffffff1ffffff2fffffffbfffffcffffffd3fffffd7fffffdbfffffdffffffe3fffffe7fffffebfffffed4fe3f9ffa'
    + 'ffcabf1febfafefe7fdfd2cbb00089969b71d79fb9f7fff20ffbff3ff50ddbd7f061c58f265cd9f469d5af66dddbf871e5f9cff7ff7fffc3ff'
    + '9ffe45fff4719242cb34e6e9d68a6a3d7dac426defe3cfaf7fffbfe7ffbffdffffffcfffe6ffff4bfff9ffffa3fffd3ffff53fffd5ffffb3ff'
    + 'feb7fffdaffffb7ffff73fffeeffffdeffffebffffbfffffd9ffffdbfffebffffe0ffffeeffffc3ffff8bffff1ffffe4fffee7fffb1ffff97f'
    + 'ffd9ffffcdffff9fffffbffffdafffeeffff4ffffb7fffee7fffe8ffffd3fffdeffffd5fffeeffffbdffffe1fffdfffff7fffff5ffffecffff'
    + '07fff87fffe0ffff17fffedffff87ffff77fffeffffeaffff8bfffe3ffff93ffff87fffcbffff37ffff1fffff83ffffe1fffebfffe3ffff3ff'
    + 'fff2ffffa3ffffd9fffff17ffffc7fffff27ffffdefffffbffffff2fffff8fffffb7fff97fff8fffffe6fffffc1fffff87ffffe7fffffc5fff'
    + 'fe5fffe4ffff2fffffd1fffff4ffffffefffffe3fffffc9fffff97fffb3ffffcffffb7fffcdffff4ffff9ffffd1ffffcffffeaffffafffffd'
    + 'dffffeffffff4fffff5fffffabffffa7ffffd7fffff9bffffecfffffb7fffff3fffffe8fffffd3fffffabfffff5fffffff7ffffecfffffdbff'
    + 'fffbbfffff7ffffff0fffffbbf');
  t.is(huffmanDecode(all, 0, all.length), Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1'));
  t.is(huffmanDecode(hex('001f'), 1, 2), 'a', 'start/end are honoured; 00011 + 111 padding is "a"');
  t.is(huffmanDecode(hex(''), 0, 0), '');
});

test('Huffman rejects EOS, padding over 7 bits and padding with a zero bit', (t) => {
  const bad = (h: string, message: RegExp): void => {
    const b = hex(h);
    t.throws(() => huffmanDecode(b, 0, b.length), { instanceOf: HpackError, message });
  };
  bad('ffffffff', /EOS/); // 30 ones is EOS
  bad('1fffffff fc', /EOS/); // 'a' then EOS
  bad('ff', /longer than 7 bits/);
  bad('1fff', /longer than 7 bits/); // 'a' + 11 ones
  bad('1e', /not all ones/); // 'a' + 110
  bad('fe', /not all ones/); // a 10-bit code cut after 8
  rejects(t, decoder(), '0081ff 00', /Huffman padding is longer than 7 bits/);
  rejects(t, decoder(), '0001 61 84ffffffff', /EOS/);
});

test('index 0 and indices past the dynamic table are errors', (t) => {
  rejects(t, decoder(), '80', /^hpack: index 0 is not a valid field index$/);
  rejects(t, decoder(), 'be', /^hpack: index 62 is beyond the dynamic table \(0 entries\)$/);
  const d = decoder();
  d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  rejects(t, d, 'c0', /^hpack: index 64 is beyond the dynamic table \(1 entries\)$/);
  rejects(t, d, '7f07 0161', /index 70 is beyond the dynamic table \(1 entries\)/); // as a literal's name
  rejects(t, decoder(), Buffer.from(int(2 ** 31 - 1, 7, 0x80)).toString('hex'), /index 2147483647 is beyond/);
});

test('dynamic table size updates: within the limit, only at the start of a block', (t) => {
  const d = decoder();
  d.decode(hex('828684410f7777772e6578616d706c652e636f6d'));
  t.deepEqual(table(d), [[':authority', 'www.example.com']]);
  // Two updates at the start (shrink to 0, then back to 4096) are allowed and empty the table.
  t.deepEqual(d.decode(hex('20 3fe11f 82')).fields, [[':method', 'GET']]);
  t.deepEqual(table(d), []);
  rejects(t, d, '3fe21f', /^hpack: table size update 4097 exceeds the limit 4096$/);
  rejects(t, decoder(), '82 20', /^hpack: table size update after the first header field$/);
  // A smaller table evicts: 57 + 55 octets do not fit in 100.
  const e = decoder({ maxTableSize: 100 });
  e.decode(hex('828684410f7777772e6578616d706c652e636f6d'));
  e.decode(hex('400a637573746f6d2d6b65790d637573746f6d2d686561646572'));
  t.deepEqual(table(e), [['custom-key', 'custom-header']]);
  // An entry larger than the whole table empties it.
  e.decode(hex('40 01 61' + '7f' + '21' + '62'.repeat(127 + 33)));
  t.deepEqual(table(e), []);
});

test('integers: truncation and overflow', (t) => {
  rejects(t, decoder(), 'ff', /^hpack: integer runs past the block$/);
  rejects(t, decoder(), 'ff80', /^hpack: integer runs past the block$/);
  rejects(t, decoder(), 'ff ffffffff0f', /^hpack: integer overflows$/);
  rejects(t, decoder(), Buffer.from(int(2 ** 31, 7, 0x80)).toString('hex'), /^hpack: integer overflows$/);
  rejects(t, decoder(), 'ff 8080808080 00', /^hpack: integer overflows \(more than 5 continuation octets\)$/);
  // A string length is an integer too.
  rejects(t, decoder(), '00 7f ffffffff0f', /integer overflows/);
});

test('string literals: truncated or missing', (t) => {
  rejects(t, decoder(), '400a 6375 7374', /^hpack: string literal runs past the block \(10 octets, 4 left\)$/);
  rejects(t, decoder(), '40', /string literal missing/);
  rejects(t, decoder(), '00 0161', /string literal missing/);
  rejects(t, decoder(), '04 7f', /integer runs past the block/);
});

// C.3.1: :method GET (42), :scheme http (43), :path / (38), then :authority www.example.com
// with incremental indexing. A limit hit before the last field must still add it to the table.
const C31 = '828684410f7777772e6578616d706c652e636f6d';

test('a list over maxHeaderListSize is flagged, truncated, and keeps the table in step', (t) => {
  const d = decoder({ maxHeaderListSize: 100 });
  t.deepEqual(d.decode(hex(C31)), { fields: [[':method', 'GET'], [':scheme', 'http']], oversize: true });
  t.deepEqual(d.decode(hex('be')), { fields: [[':authority', 'www.example.com']], oversize: false });
  // Exactly at the limit is not over it.
  t.deepEqual(decoder({ maxHeaderListSize: 85 }).decode(hex('8286')).oversize, false);
});

test('a list over maxHeaderPairs is flagged, truncated, and keeps the table in step', (t) => {
  const d = decoder({ maxHeaderPairs: 2 });
  t.deepEqual(d.decode(hex(C31)), { fields: [[':method', 'GET'], [':scheme', 'http']], oversize: true });
  t.deepEqual(d.decode(hex('be 82')), { fields: [[':authority', 'www.example.com'], [':method', 'GET']], oversize: false });
  t.deepEqual(d.decode(hex('be 82 86')).oversize, true);
});

test('encoder: static exact matches are one octet, other fields literal without indexing', (t) => {
  const enc = new HpackEncoder();
  t.deepEqual(enc.encode([[':status', '200']]), hex('88'));
  t.deepEqual(enc.encode([[':method', 'CONNECT']]), Buffer.concat([hex('0207'), Buffer.from('CONNECT')]));
  t.deepEqual(enc.encode([['x-a', 'b']]), Buffer.concat([hex('0003'), Buffer.from('x-a'), hex('01'), Buffer.from('b')]));
  t.deepEqual(enc.encode([]), Buffer.alloc(0));
  t.throws(() => enc.encode([['x-a', 'line\u010aend']]), { instanceOf: HpackError, message: /above U\+00FF/ });
});

test('encoder round trip through the decoder, adding nothing to its table', (t) => {
  const fields: Fields = [
    [':method', 'CONNECT'], [':authority', '10.0.0.1:15008'], [':path', '/'], [':scheme', 'https'],
    ['accept-encoding', 'gzip, deflate'], ['user-agent', 'meshnode'], ['x-custom', ''], ['x-bin', '\x00\x7f\x80\xff'],
    ['baggage', 'k='.repeat(200)], ['x-'.repeat(70), 'v'], [':status', '204'], [':authority', ''],
  ];
  const block = new HpackEncoder().encode(fields);
  const d = decoder();
  t.deepEqual(d.decode(block), { fields, oversize: false });
  t.deepEqual(table(d), []);
  t.is(block[block.length - 2], 0x89, ':status 204 is static index 9');
  t.is(block[block.length - 1], 0x81, ':authority with an empty value is static index 1');
});
