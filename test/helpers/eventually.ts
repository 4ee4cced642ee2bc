/**
 * Polls `check` until it returns without throwing, with a growing delay, up to `timeoutMs`.
 * Used instead of fixed sleeps so tests wait exactly as long as needed.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }
}
