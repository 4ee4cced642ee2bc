import test, { type ExecutionContext } from 'ava';
import { kubePeersMissing } from './kube-cluster.js';
import { isRoot, missingTools } from './privileged.js';

/**
 * Registers a test that needs the API server (and root, with `root: true`): skipped with the
 * reason in its title when the peers or tools are missing, never silently passed. Serial, because
 * each one runs a control plane on the shared cores.
 */
export function kubeTest(title: string, fn: (t: ExecutionContext) => Promise<void>, opts: { root?: boolean; tools?: string[] } = {}): void {
  const missingTool = missingTools(opts.tools ?? []);
  const reason = opts.root && !isRoot ? 'requires root'
    : missingTool.length > 0 ? `missing ${missingTool.join(', ')}`
      : kubePeersMissing();
  if (reason !== undefined) {
    test.skip(`${title} [skipped: ${reason}]`, () => {});
    return;
  }
  test.serial(title, fn);
}
