import { YamlSource } from '../../agent/sources/yaml/source.js';
import { StateStore } from '../../agent/state/store.js';
import type { StateChange } from '../../agent/state/types.js';
import { createLogger } from '../../agent/telemetry/log.js';
import { eventually } from './eventually.js';

export const YAML_TEST_SETTINGS = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

/**
 * A real YAML source feeding a real store, for reload tests: `config.current` is the store's
 * state now, `applied` every change the store reported after the initial load. With `watch`
 * false the caller loads (`initial()`) and reloads by hand.
 */
export async function watchedYaml(t: { teardown(fn: () => unknown): void }, path: string, watch = true) {
  const store = new StateStore(YAML_TEST_SETTINGS);
  const applied: StateChange[] = [];
  store.subscribe((c) => applied.push(c));
  const source = new YamlSource({ path, settings: YAML_TEST_SETTINGS, store, log: createLogger('test'), debounceMs: 20 });
  t.teardown(() => source.close());
  const config = {
    get current() { return store.snapshot(); },
    initial: async () => { await source.start(); applied.length = 0; return store.snapshot(); },
    reload: () => source.reload(),
    watch: () => source.watch(),
    get workerRunning() { return source.workerRunning; },
  };
  if (!watch) return { config, applied };
  await config.initial();
  config.watch();
  return { config, applied };
}

/** eventually() needs a throwing check; ava assertions record failures instead of throwing. */
export function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return eventually(async () => { if (!(await cond())) throw new Error(`timed out waiting for ${what}`); });
}
