import type { SpiffeId } from '../base/spiffe-id.js';

/**
 * Which identities this node needs, by reference count: each holder (a local workload, a
 * registered pod) holds at most one identity; an identity is wanted from its first holder until
 * its last one lets go. `onChange` hears the wanted set only when it changes, once per `batch`.
 */
export class IdentityRefs {
  private readonly held = new Map<string, SpiffeId>();
  private readonly counts = new Map<SpiffeId, number>();
  private batching = 0;
  private dirty = false;

  constructor(private readonly onChange: (wanted: ReadonlySet<SpiffeId>) => void) {}

  /** Sets what `holder` holds; `undefined` releases it. */
  hold(holder: string, id: SpiffeId | undefined): void {
    const old = this.held.get(holder);
    if (old === id) return;
    if (old !== undefined) {
      this.held.delete(holder);
      const n = this.counts.get(old)! - 1;
      if (n === 0) { this.counts.delete(old); this.dirty = true; } else this.counts.set(old, n);
    }
    if (id !== undefined) {
      this.held.set(holder, id);
      const n = (this.counts.get(id) ?? 0) + 1;
      this.counts.set(id, n);
      if (n === 1) this.dirty = true;
    }
    this.flush();
  }

  /** Releases every holder whose name starts with `prefix` and is not in `keep`. */
  releaseOthers(prefix: string, keep: ReadonlySet<string>): void {
    this.batch(() => { for (const holder of [...this.held.keys()]) if (holder.startsWith(prefix) && !keep.has(holder)) this.hold(holder, undefined); });
  }

  batch(fn: () => void): void {
    this.batching++;
    try { fn(); } finally { this.batching--; this.flush(); }
  }

  wanted(): ReadonlySet<SpiffeId> {
    return new Set(this.counts.keys());
  }

  holders(id: SpiffeId): number {
    return this.counts.get(id) ?? 0;
  }

  private flush(): void {
    if (this.batching > 0 || !this.dirty) return;
    this.dirty = false;
    this.onChange(this.wanted());
  }
}
