import { MeshnodeError } from '../base/errors.js';
import { huffmanDecode } from './hpack-huffman.js';

/**
 * HPACK (RFC 7541) for the HBONE tunnel's HTTP/2. The peer may be hostile: every length and
 * index is checked against the block before use, integers are bounded, and a header list past
 * our limits is still decoded to the end (to keep the dynamic table in step with the peer's
 * encoder) but no longer collected. Any HpackError leaves the dynamic table in an unknown
 * state, so the caller must end the connection with COMPRESSION_ERROR (RFC 9113 §4.3).
 */
export class HpackError extends MeshnodeError {
  readonly code = 'ERR_HPACK' as const;
}

/** RFC 7541 Appendix A; index i is STATIC[i - 1]. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** Per-entry overhead in table and header-list sizes (RFC 7541 §4.1, RFC 9113 §6.5.2). */
const ENTRY_OVERHEAD = 32;
const MAX_INT = 2 ** 31 - 1;

export interface DecodedHeaders {
  readonly fields: Array<[string, string]>;
  /**
   * true when the list exceeded maxHeaderListSize (sum of name+value+32 per field, RFC 7540
   * §6.5.2) or maxHeaderPairs; fields then holds only what came before the limit
   */
  readonly oversize: boolean;
}

export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  private readonly maxHeaderPairs: number;
  /** The size the peer's encoder last chose, at most maxTableSize (§4.2). */
  private capacity: number;
  private size = 0;
  /** Oldest first, so a new entry is a push; dynamic index 1 is the last element. */
  private readonly table: Array<[string, string]> = [];
  private block: Buffer = Buffer.alloc(0);
  private pos = 0;

  constructor(opts: { maxTableSize: number; maxHeaderListSize: number; maxHeaderPairs: number }) {
    this.maxTableSize = opts.maxTableSize;
    this.maxHeaderListSize = opts.maxHeaderListSize;
    this.maxHeaderPairs = opts.maxHeaderPairs;
    this.capacity = opts.maxTableSize;
  }

  /** Decodes one complete header block (HEADERS plus its CONTINUATIONs, reassembled). */
  decode(block: Buffer): DecodedHeaders {
    this.block = block;
    this.pos = 0;
    const fields: Array<[string, string]> = [];
    let listSize = 0;
    let oversize = false;
    let sawField = false;
    try {
      while (this.pos < block.length) {
        const b = block[this.pos]!;
        let field: [string, string];
        if (b & 0x80) {
          field = this.entry(this.readInt(7));
        } else if (b & 0x40) {
          field = this.literal(6);
          this.insert(field);
        } else if (b & 0x20) {
          // Only before the first field: §4.2 puts updates at the start of a block.
          if (sawField) throw new HpackError('hpack: table size update after the first header field');
          const want = this.readInt(5);
          if (want > this.maxTableSize) {
            throw new HpackError(`hpack: table size update ${want} exceeds the limit ${this.maxTableSize}`);
          }
          this.capacity = want;
          this.evict(0);
          continue;
        } else {
          // Without indexing (0000) and never indexed (0001) decode alike; the flag only tells
          // intermediaries not to re-index, and we forward nothing.
          field = this.literal(4);
        }
        sawField = true;
        if (oversize) continue;
        listSize += field[0].length + field[1].length + ENTRY_OVERHEAD;
        if (listSize > this.maxHeaderListSize || fields.length >= this.maxHeaderPairs) oversize = true;
        else fields.push(field);
      }
    } finally {
      // The block is the caller's buffer: keep no reference to it between calls.
      this.block = Buffer.alloc(0);
    }
    return { fields, oversize };
  }

  private entry(index: number): [string, string] {
    if (index === 0) throw new HpackError('hpack: index 0 is not a valid field index');
    if (index <= STATIC.length) {
      const [name, value] = STATIC[index - 1]!;
      return [name, value];
    }
    const n = this.table.length;
    if (index - STATIC.length > n) {
      throw new HpackError(`hpack: index ${index} is beyond the dynamic table (${n} entries)`);
    }
    const [name, value] = this.table[n - (index - STATIC.length)]!;
    return [name, value];
  }

  /** A literal field whose name index has the given prefix width; index 0 means a literal name. */
  private literal(prefix: number): [string, string] {
    const index = this.readInt(prefix);
    const name = index === 0 ? this.readString() : this.entry(index)[0];
    return [name, this.readString()];
  }

  /** §4.4: evict oldest first; an entry larger than the whole table empties it and is dropped. */
  private insert(field: [string, string]): void {
    const cost = field[0].length + field[1].length + ENTRY_OVERHEAD;
    if (cost > this.capacity) {
      this.table.length = 0;
      this.size = 0;
      return;
    }
    this.evict(cost);
    // A copy, so that the field handed to the caller can be changed without touching the table.
    this.table.push([field[0], field[1]]);
    this.size += cost;
  }

  /** Evicts until `room` more octets fit in the capacity. */
  private evict(room: number): void {
    while (this.size + room > this.capacity) {
      const [name, value] = this.table.shift()!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
    }
  }

  /** §5.1, bounded: at most five continuation octets and no value above 2^31 - 1. */
  private readInt(prefix: number): number {
    const block = this.block;
    const mask = (1 << prefix) - 1;
    let value = block[this.pos++]! & mask;
    if (value < mask) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= block.length) throw new HpackError('hpack: integer runs past the block');
      if (shift > 28) throw new HpackError('hpack: integer overflows (more than 5 continuation octets)');
      const b = block[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INT) throw new HpackError('hpack: integer overflows');
      if ((b & 0x80) === 0) return value;
    }
  }

  /** §5.2: H flag, 7-bit-prefix length, then the octets, Huffman-coded when H is set. */
  private readString(): string {
    if (this.pos >= this.block.length) throw new HpackError('hpack: string literal missing at the end of the block');
    const huffman = (this.block[this.pos]! & 0x80) !== 0;
    const length = this.readInt(7);
    const start = this.pos;
    if (length > this.block.length - start) {
      throw new HpackError(`hpack: string literal runs past the block (${length} octets, ${this.block.length - start} left)`);
    }
    this.pos = start + length;
    return huffman ? huffmanDecode(this.block, start, this.pos) : this.block.toString('latin1', start, this.pos);
  }
}

/** Lowest static index by name + '\0' + value (a NUL cannot be in a static name or value). */
const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC.forEach(([name, value], i) => {
  if (!STATIC_EXACT.has(`${name}\0${value}`)) STATIC_EXACT.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

/** Octets for an integer with an N-bit prefix (§5.1). */
function intLength(value: number, prefix: number): number {
  const mask = (1 << prefix) - 1;
  if (value < mask) return 1;
  let n = 2;
  for (let rest = value - mask; rest >= 0x80; rest >>>= 7) n++;
  return n;
}

function writeInt(out: Buffer, pos: number, value: number, prefix: number, flags: number): number {
  const mask = (1 << prefix) - 1;
  if (value < mask) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  for (; rest >= 0x80; rest >>>= 7) out[pos++] = (rest & 0x7f) | 0x80;
  out[pos++] = rest;
  return pos;
}

function checkOctets(s: string): void {
  // latin1 writing keeps only the low byte of each code unit: 'Ċ' (U+010A) would go out as LF.
  if (/[^\x00-\xff]/.test(s)) throw new HpackError('hpack: header text holds a character above U+00FF');
}

/**
 * Encodes with the static table only, never the dynamic one: a tunnel sends a handful of
 * headers per CONNECT, so indexing would save a few octets at the cost of table state kept in
 * step with the peer (and the peer's SETTINGS_HEADER_TABLE_SIZE then never matters). No
 * Huffman, for the same reason. Strings are written as latin1 octets.
 */
export class HpackEncoder {
  encode(fields: ReadonlyArray<readonly [string, string]>): Buffer {
    // Two passes over the fields, sizing then writing, so the block is one allocation.
    let total = 0;
    for (const [name, value] of fields) {
      checkOctets(name);
      checkOctets(value);
      const exact = STATIC_EXACT.get(`${name}\0${value}`);
      if (exact !== undefined) { total += intLength(exact, 7); continue; }
      const named = STATIC_NAME.get(name);
      total += named !== undefined ? intLength(named, 4) : 1 + intLength(name.length, 7) + name.length;
      total += intLength(value.length, 7) + value.length;
    }
    const out = Buffer.allocUnsafe(total);
    let pos = 0;
    for (const [name, value] of fields) {
      const exact = STATIC_EXACT.get(`${name}\0${value}`);
      if (exact !== undefined) { pos = writeInt(out, pos, exact, 7, 0x80); continue; }
      const named = STATIC_NAME.get(name);
      if (named !== undefined) {
        pos = writeInt(out, pos, named, 4, 0x00);
      } else {
        out[pos++] = 0x00;
        pos = writeInt(out, pos, name.length, 7, 0x00);
        pos += out.write(name, pos, 'latin1');
      }
      pos = writeInt(out, pos, value.length, 7, 0x00);
      pos += out.write(value, pos, 'latin1');
    }
    return out;
  }
}
