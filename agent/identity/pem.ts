/** PEM armour: RFC 7468 blocks, one DER object each. */

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) continue;
    out.push({ label: m[1]!, der: Buffer.from(body, 'base64') });
  }
  return out;
}

/** DER of every block with `label`, in order. */
export function pemDecodeAll(text: string, label: string): Buffer[] {
  return pemBlocks(text).filter((b) => b.label === label).map((b) => b.der);
}

/** One PEM block ending in a newline, as istiod and OpenSSL write them. */
export function pemEncode(der: Buffer, label: string): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
