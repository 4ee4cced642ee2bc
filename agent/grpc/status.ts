import { MeshnodeError } from '../base/errors.js';

/** gRPC status codes (the numbers are the wire contract, carried in `grpc-status`). */
export const enum Status {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

const NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;

export function statusName(code: number): string {
  return NAMES[code] ?? `status ${code}`;
}

/** A call that ended with a status other than OK; `status` is the gRPC code, `details` the server's (or our) reason. */
export class GrpcError extends MeshnodeError {
  readonly code = 'ERR_GRPC';

  constructor(readonly status: number, readonly details: string, options?: { cause?: unknown }) {
    super(`${statusName(status)}: ${details}`, options);
  }
}

/**
 * The status a response without a usable `grpc-status` stands for, from its HTTP status, as
 * the gRPC HTTP/2 mapping defines it (an intermediary answering, not the service).
 */
export function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return Status.INTERNAL;
    case 401: return Status.UNAUTHENTICATED;
    case 403: return Status.PERMISSION_DENIED;
    case 404: return Status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Status.UNAVAILABLE;
    default: return Status.UNKNOWN;
  }
}

/** `grpc-message` is percent-encoded UTF-8; a value that does not decode is shown as sent. */
export function decodeGrpcMessage(value: string | undefined): string {
  if (value === undefined) return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The status of a trailer section (or trailers-only response): code and message, or undefined when absent or not a code. */
export function trailerStatus(headers: Readonly<Record<string, string>>): { status: number; details: string } | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined || !/^\d{1,2}$/.test(raw)) return undefined;
  return { status: Number(raw), details: decodeGrpcMessage(headers['grpc-message']) };
}
