import { HpackError } from './hpack.js';

/**
 * The HPACK Huffman code (RFC 7541 Appendix B), decode only: we never Huffman-encode (see
 * HpackEncoder). The code is canonical, so the 257 code lengths (symbols 0..255, then EOS) fix
 * every code; each length is one character, 'A' meaning 5 bits (the shortest) up to 'Z' for 30.
 */
const LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';
const EOS = 256;

/**
 * The decoder walks the code tree four bits at a time. States are the tree's 256 internal
 * nodes; for each (state, nibble) the tables give the next state and the symbol completed on
 * the way, if any. A nibble completes at most one symbol because no code is shorter than five
 * bits, so one lookup per nibble suffices.
 */
const NEXT = new Uint8Array(256 * 16);
const EMIT = new Int16Array(256 * 16).fill(-1); // -1: none; EOS: the input carries EOS
/**
 * How a block may end in each state (§5.2): 0 when the bits since the last symbol are at most
 * seven ones (valid padding, including none), 1 when they are all ones but eight or more, 2 when
 * one of them is zero (a truncated symbol or bad padding).
 */
const END = new Uint8Array(256);

{
  // Canonical assignment: by length, then by symbol, each code one more than the previous one,
  // shifted left when the length grows.
  const order = Array.from({ length: 257 }, (_, s) => s);
  const len = (s: number): number => LENGTHS.charCodeAt(s) - 60;
  order.sort((a, b) => len(a) - len(b) || a - b);
  // Internal nodes: child[2n + bit] >= 0 is an internal node, or ~symbol for a leaf.
  const child: number[] = [0, 0];
  const depth: number[] = [0];
  const ones: boolean[] = [true];
  let code = 0;
  let prev = len(order[0]!);
  order.forEach((sym, i) => {
    const n = len(sym);
    if (i > 0) code = (code + 1) << (n - prev); // codes fit 30 bits
    prev = n;
    let node = 0;
    for (let b = n - 1; b > 0; b--) {
      const bit = (code >> b) & 1;
      // 0 means no child yet: the root is nobody's child.
      if (child[2 * node + bit] === 0) {
        child[2 * node + bit] = depth.length;
        child.push(0, 0);
        depth.push(depth[node]! + 1);
        ones.push(ones[node]! && bit === 1);
      }
      node = child[2 * node + bit]!;
    }
    child[2 * node + (code & 1)] = ~sym;
  });
  if (depth.length !== 256) throw new Error(`hpack: the Huffman tree has ${depth.length} internal nodes, not 256`);

  for (let s = 0; s < 256; s++) {
    END[s] = ones[s] ? (depth[s]! <= 7 ? 0 : 1) : 2;
    for (let nib = 0; nib < 16; nib++) {
      let node = s;
      let emit = -1;
      for (let b = 3; b >= 0; b--) {
        const c = child[2 * node + ((nib >> b) & 1)]!;
        if (c >= 0) { node = c; continue; }
        emit = ~c;
        node = 0;
        if (emit === EOS) break;
      }
      NEXT[s * 16 + nib] = node;
      EMIT[s * 16 + nib] = emit;
    }
  }
}

/**
 * The octets Huffman-coded in buf[start, end), as a latin1 string. Throws when the input holds
 * EOS, or ends in anything but at most seven bits of ones (RFC 7541 §5.2).
 */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  // Five bits is the shortest code, so 8/5 octets out per octet in is the most there can be.
  const out = Buffer.allocUnsafe(Math.floor(((end - start) * 8) / 5));
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let shift = 4; shift >= 0; shift -= 4) {
      const t = state * 16 + ((byte >> shift) & 15);
      const sym = EMIT[t]!;
      if (sym === EOS) throw new HpackError('hpack: Huffman string contains the EOS symbol');
      if (sym >= 0) out[n++] = sym;
      state = NEXT[t]!;
    }
  }
  const how = END[state];
  if (how === 1) throw new HpackError('hpack: Huffman padding is longer than 7 bits');
  if (how === 2) throw new HpackError('hpack: Huffman padding is not all ones (or a code is truncated)');
  return out.toString('latin1', 0, n);
}
