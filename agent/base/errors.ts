/**
 * The one error base of every subsystem. `code` is a literal per class (`ERR_TUNNEL`,
 * `ERR_CNI`…) so callers branch on it without instanceof chains across module copies; `cause`
 * keeps the underlying error for logs. Messages name what is wrong and where; they never carry
 * a secret.
 */
export abstract class MeshnodeError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
