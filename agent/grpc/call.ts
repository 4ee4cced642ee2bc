import { EventEmitter } from 'node:events';
import { ErrorCode, type H2Headers, type H2Stream } from '../h2/index.js';
import { MessageReader } from './framing.js';
import { GrpcError, Status, statusOfHttp, trailerStatus } from './status.js';

/**
 * One gRPC call on an HTTP/2 stream whose request has been sent: reads the response headers,
 * the length-prefixed messages and the status in the trailers (or in a trailers-only response),
 * and ends exactly once — `end` for OK, `error` with a GrpcError otherwise. A stream that ends
 * without a status, is reset, or dies with its connection is an error, never a silent success.
 *
 * Events: `message` (Buffer), `end`, `error` (GrpcError).
 */
export class Call extends EventEmitter {
  private readonly reader: MessageReader;
  private status: { status: number; details: string } | undefined;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly stream: H2Stream, maxMessageBytes: number, timeoutMs: number | undefined) {
    super();
    this.reader = new MessageReader(maxMessageBytes);
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.cancel(Status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`), timeoutMs);
    }
    stream.on('response', (headers: H2Headers) => this.onResponse(headers));
    stream.on('trailers', (headers: H2Headers) => { this.status ??= trailerStatus(headers) ?? { status: Status.UNKNOWN, details: 'trailers without a grpc-status' }; });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('error', () => undefined); // the outcome is read from the stream's state on close
    stream.on('close', () => this.onClose());
  }

  /** Ends the call from our side: RST_STREAM(CANCEL) and an error with `status`. */
  cancel(status: number = Status.CANCELLED, details = 'cancelled by the agent'): void {
    if (this.finished) return;
    this.fail(new GrpcError(status, details));
    this.stream.close(ErrorCode.CANCEL);
  }

  private onResponse(headers: H2Headers): void {
    const http = Number(headers[':status']);
    const type = headers['content-type'] ?? '';
    const inline = trailerStatus(headers);
    if (http !== 200) {
      this.abort(inline ?? { status: statusOfHttp(http), details: `HTTP status ${http} from the server` });
    } else if (!/^application\/grpc(?:$|[+;])/.test(type)) {
      this.abort({ status: Status.UNKNOWN, details: `response content-type ${JSON.stringify(type)} is not gRPC` });
    } else if (inline) {
      // Trailers-only: the status comes in the response headers and the stream ends with them.
      this.status = inline;
    }
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    let messages: Buffer[];
    try {
      messages = this.reader.push(chunk);
    } catch (err) {
      this.fail(err as GrpcError);
      this.stream.close(ErrorCode.CANCEL);
      return;
    }
    for (const m of messages) {
      if (this.finished) return;
      this.emit('message', m);
    }
  }

  private onEnd(): void {
    if (this.finished) return;
    const status = this.status;
    if (!status) this.fail(new GrpcError(Status.UNKNOWN, 'the response ended without a grpc-status'));
    else if (status.status !== Status.OK) this.fail(new GrpcError(status.status, status.details));
    else if (this.reader.partial) this.fail(new GrpcError(Status.INTERNAL, 'the response ended inside a message'));
    else this.succeed();
  }

  private onClose(): void {
    if (this.finished) return;
    const s = this.stream;
    // A stream torn down right after its end (both sides done) may close before `end` is emitted.
    if (!s.aborted && s.remoteEnded && s.rstCode === ErrorCode.NO_ERROR) { this.onEnd(); return; }
    if (s.aborted) this.fail(new GrpcError(Status.UNAVAILABLE, 'the connection to the server closed during the call'));
    else if (s.rstCode === ErrorCode.REFUSED_STREAM) this.fail(new GrpcError(Status.UNAVAILABLE, 'the server refused the stream'));
    else if (s.rstCode === ErrorCode.CANCEL) this.fail(new GrpcError(Status.CANCELLED, 'the server cancelled the call'));
    else this.fail(new GrpcError(Status.INTERNAL, `the server reset the stream (HTTP/2 code ${s.rstCode ?? 'none'})`));
  }

  /** A response that fails by its headers: the stream is not read on. */
  private abort(status: { status: number; details: string }): void {
    this.fail(new GrpcError(status.status, status.details));
    this.stream.close(ErrorCode.CANCEL);
  }

  private succeed(): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.emit('end');
  }

  private fail(err: GrpcError): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.emit('error', err);
  }
}
