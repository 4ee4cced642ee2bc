import type { H2Headers } from './stream.js';

/**
 * Whether a decoded header list is a well-formed HTTP/2 message (RFC 9113 §8.2, §8.3), and the
 * header object made of it. A malformed message is a stream error, never passed on: a name with
 * an uppercase letter or a character outside the token set, a value with NUL, CR or LF or with
 * whitespace at either end, a connection-specific field, a pseudo-header that is unknown,
 * repeated, or after a regular field.
 */
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);
const RESPONSE_PSEUDO = new Set([':status']);
const NO_PSEUDO = new Set<string>();
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;

function badName(name: string): boolean {
  if (name.length === 0) return true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return true;
  }
  return false;
}

function badValue(value: string): boolean {
  const n = value.length;
  if (n > 0) {
    const first = value.charCodeAt(0);
    const last = value.charCodeAt(n - 1);
    if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return true;
  }
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return true;
  }
  return false;
}

/** The header object of a request, a response or a trailer section; a string saying what is wrong otherwise. */
export function messageHeaders(fields: ReadonlyArray<readonly [string, string]>, kind: 'request' | 'response' | 'trailers'): H2Headers | string {
  const allowed = kind === 'request' ? REQUEST_PSEUDO : kind === 'response' ? RESPONSE_PSEUDO : NO_PSEUDO;
  const out: H2Headers = Object.create(null) as H2Headers;
  let regular = false;
  for (const [name, value] of fields) {
    if (badValue(value)) return `header ${JSON.stringify(name)} has a value with a forbidden character or surrounding whitespace`;
    if (name.startsWith(':')) {
      if (regular) return `pseudo-header ${name} after a regular header`;
      if (!allowed.has(name)) return `pseudo-header ${JSON.stringify(name)} is not allowed in a ${kind}`;
      if (out[name] !== undefined) return `pseudo-header ${name} is repeated`;
      out[name] = value;
      continue;
    }
    regular = true;
    if (badName(name)) return `header name ${JSON.stringify(name)} is not a lowercase token`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name} is not allowed in HTTP/2`;
    if (name === 'te' && value !== 'trailers') return 'header te may only be "trailers"';
    const prev = out[name];
    out[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  if (kind === 'request' && out[':method'] === undefined) return 'request without :method';
  if (kind === 'response' && !/^[1-5]\d\d$/.test(out[':status'] ?? '')) return `response :status ${JSON.stringify(out[':status'] ?? null)} is not a status code`;
  return out;
}
