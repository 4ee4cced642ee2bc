import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notifySystemd } from '../../agent/net/index.js';
import { missingTools } from '../helpers/privileged.js';

/** The readiness datagram, received by an independent implementation (python's socket module). */
const RECEIVER = `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
print(s.recv(4096).decode(), flush=True)`;

const title = 'notifySystemd sends the state to NOTIFY_SOCKET as one datagram; without NOTIFY_SOCKET it does nothing';
if (missingTools(['python3']).length > 0) test.skip(`${title} [skipped: missing python3]`, () => {});
else {
  test(title, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshnode-notify-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'notify.sock');
    const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => child.kill());
    let out = '';
    const got = new Promise<string>((resolve) => child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('bound\n') && out.split('\n').length > 3) resolve(out.slice('bound\n'.length));
    }));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    t.is(notifySystemd('READY=1\nSTATUS=ok', { NOTIFY_SOCKET: path }), undefined);
    t.is((await got).trim(), 'READY=1\nSTATUS=ok');
    t.is(notifySystemd('READY=1', {}), undefined);
    t.truthy(notifySystemd('READY=1', { NOTIFY_SOCKET: join(dir, 'nobody-listens') }), 'a send to a missing socket reports its error');
  });
}
