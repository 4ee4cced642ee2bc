/** Readable progress output: plain lines, colour only on a terminal. */
const tty = process.stdout.isTTY === true;
const paint = (code: string) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = paint('1');
export const dim = paint('2');
export const green = paint('32');
export const red = paint('31');

export function say(line = ''): void {
  process.stdout.write(line + '\n');
}

/** Prints "  … what" and returns a function that completes the line with ✓ or ✗. */
export async function progress<T>(what: string, work: () => Promise<T>, detail?: (v: T) => string): Promise<T> {
  const started = Date.now();
  if (tty) process.stdout.write(`  ${dim('…')} ${what}`);
  try {
    const v = await work();
    const extra = detail ? ` ${dim(detail(v))}` : '';
    finish(`  ${green('✓')} ${what}${extra} ${dim(`(${((Date.now() - started) / 1000).toFixed(1)} s)`)}`);
    return v;
  } catch (err) {
    finish(`  ${red('✗')} ${what}`);
    throw err;
  }
}

function finish(line: string): void {
  process.stdout.write(tty ? `\r\x1b[K${line}\n` : `${line}\n`);
}

/** Waits for Enter on an interactive terminal. */
export function pause(prompt: string): Promise<void> {
  process.stdout.write(dim(prompt));
  return new Promise((resolve) => {
    process.stdin.resume();
    process.stdin.once('data', () => {
      process.stdin.pause();
      resolve();
    });
  });
}
