import { Problems } from '../../config/problems.js';
import type { MeshSettings } from '../types.js';
import { modeSource, PeerAuthnIndex } from './peer-authn.js';
import type { ParsedPeerAuthentication, SecurityObject } from './types.js';

/**
 * For "why was this refused" answers: the PeerAuthentication (and level) that makes a port of a
 * workload STRICT or PERMISSIVE. The shared static STRICT Authorization cannot say which policy
 * it stands for; this can.
 */
export function explainPeerAuthentication(
  objects: readonly SecurityObject[],
  workload: { namespace: string; labels: Readonly<Record<string, string>> },
  port: number,
  settings: MeshSettings,
): string | undefined {
  const peerAuthns = objects.filter((o): o is ParsedPeerAuthentication => o.kind === 'PeerAuthentication');
  // Problems were reported when the config was loaded; building the index again must not repeat them.
  const index = new PeerAuthnIndex(peerAuthns, settings, new Problems());
  const source = modeSource(index.viewFor(workload.namespace, workload.labels), port);
  if (!source) return undefined;
  const { policy, level } = source;
  const mode = level === 'port-level' ? policy.portLevelMtls.get(port) : policy.mode;
  return `PeerAuthentication ${policy.namespace}/${policy.name} (${level}) sets ${mode}`;
}
