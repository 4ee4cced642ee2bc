import type { IncomingMessage, ServerResponse } from 'node:http';
import { MeshnodeError } from '../base/errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

/** A request that gets a 4xx answer with `{error}`. */
export class HttpError extends MeshnodeError {
  readonly code = 'ERR_HTTP';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads and parses a JSON body of at most MAX_BODY_BYTES. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}
