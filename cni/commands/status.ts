import { CniCode, CniError } from '../errors.js';
import type { CommandContext } from './context.js';

/** STATUS (1.1.0): ADDs can be served only while the agent answers on its socket. */
export async function status(ctx: CommandContext): Promise<void> {
  await ctx.agent.ping().catch((err: Error) => {
    throw new CniError(CniCode.NotAvailable, 'meshnode agent unreachable; enrolled pods cannot be added', err.message);
  });
}
