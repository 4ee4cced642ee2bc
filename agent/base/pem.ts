import { MeshnodeError } from './errors.js';
/**
 * PEM armour: RFC 7468 blocks, one DER object each. PEM text comes from the CA over the network
 * (and, at the CA, from callers), so the scanner is a single left-to-right pass — every
 * character is looked at a bounded number of times whatever the input — and refuses input past
 * fixed limits instead of working through it on the agent's one event loop.
 */

export class PemError extends MeshnodeError {
  readonly code = 'ERR_PEM';
  constructor(message: string) {
    super(message);
  }
}

export const PEM_LIMITS = {
  /** Characters of PEM text: a trust bundle of a few hundred roots fits many times over. */
  maxChars: 4 * 1024 * 1024,
  /** Blocks in one text (a system CA bundle has about 150). */
  maxBlocks: 512,
  /** Characters between a block's BEGIN and END lines: an RSA-8192 certificate needs about 3 KiB. */
  maxBlockChars: 64 * 1024,
  /** RFC 7468 labels are short words ("CERTIFICATE", "NEW CERTIFICATE REQUEST"). */
  maxLabelChars: 64,
} as const;

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BEGIN = '-----BEGIN ';
const DASHES = '-----';
const LABEL = /^[A-Z0-9]+( [A-Z0-9]+)*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BLANK = /^\s*$/;

/**
 * Every block of `text`, in order. With `strict`, only white space may stand around and between
 * the blocks (a CA answer or a CSR carries nothing else); otherwise explanatory text between
 * blocks is skipped, as RFC 7468 §2 allows in files. A malformed block is an error either way.
 */
export function pemBlocks(text: string, strict = false): PemBlock[] {
  if (text.length > PEM_LIMITS.maxChars) throw new PemError(`PEM text of ${text.length} characters is longer than ${PEM_LIMITS.maxChars}`);
  const out: PemBlock[] = [];
  for (let pos = 0; ;) {
    const begin = text.indexOf(BEGIN, pos);
    if (strict && !BLANK.test(text.slice(pos, begin === -1 ? text.length : begin))) throw new PemError('text outside the PEM blocks');
    if (begin === -1) return out;
    if (out.length === PEM_LIMITS.maxBlocks) throw new PemError(`more than ${PEM_LIMITS.maxBlocks} PEM blocks`);
    const labelStart = begin + BEGIN.length;
    const labelLength = text.slice(labelStart, labelStart + PEM_LIMITS.maxLabelChars + DASHES.length).indexOf(DASHES);
    const label = text.slice(labelStart, labelStart + labelLength);
    if (labelLength < 0 || !LABEL.test(label)) throw new PemError('malformed PEM BEGIN line');
    const bodyStart = labelStart + labelLength + DASHES.length;
    const end = `-----END ${label}-----`;
    const endAt = text.indexOf(end, bodyStart);
    if (endAt === -1) throw new PemError(`PEM block ${label} has no END line`);
    if (endAt - bodyStart > PEM_LIMITS.maxBlockChars) throw new PemError(`PEM block ${label} is longer than ${PEM_LIMITS.maxBlockChars} characters`);
    const body = text.slice(bodyStart, endAt).replace(/\s+/g, '');
    if (!BASE64.test(body) || body.length % 4 !== 0) throw new PemError(`PEM block ${label} is not base64`);
    out.push({ label, der: Buffer.from(body, 'base64') });
    pos = endAt + end.length;
  }
}

/** DER of every block with `label`, in order; other blocks and text between them are skipped (files). */
export function pemDecodeAll(text: string, label: string): Buffer[] {
  return pemBlocks(text).filter((b) => b.label === label).map((b) => b.der);
}

/** DER of every block, when `text` holds nothing but blocks labelled one of `labels` (network input). */
export function pemDecodeStrict(text: string, labels: readonly string[]): Buffer[] {
  return pemBlocks(text, true).map((b) => {
    if (!labels.includes(b.label)) throw new PemError(`unexpected PEM block ${b.label}`);
    return b.der;
  });
}

/** One PEM block ending in a newline, as istiod and OpenSSL write them. */
export function pemEncode(der: Buffer, label: string): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
