import { describe } from '../../config/field-reader.js';
import type { FieldReader } from './fields.js';
import type { ObjectMeta } from './metadata.js';
import { parsePortValue, readSelector } from './parse-authorization-policy.js';
import type { MtlsMode, ParsedPeerAuthentication } from './types.js';

const MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

export function parsePeerAuthentication(r: FieldReader, meta: ObjectMeta): ParsedPeerAuthentication | undefined {
  const spec = r.object(meta.spec, 'spec', ['selector', 'mtls', 'portLevelMtls']);
  if (!spec) return undefined;
  const selector = readSelector(r, spec.selector, 'spec.selector');
  const mode = readMtls(r, spec.mtls, 'spec.mtls');
  const portLevelMtls = new Map<number, MtlsMode>();
  if (spec.portLevelMtls !== undefined && spec.portLevelMtls !== null) {
    const ports = r.object(spec.portLevelMtls, 'spec.portLevelMtls', Object.keys(spec.portLevelMtls as object));
    for (const [key, value] of Object.entries(ports ?? {})) {
      const path = `spec.portLevelMtls.${key}`;
      const port = parsePortValue(r, key, path);
      const portMode = readMtls(r, value, path);
      if (port !== undefined) portLevelMtls.set(port, portMode);
    }
    if (!selector || Object.keys(selector).length === 0) r.error('spec.portLevelMtls', 'portLevelMtls requires a selector with matchLabels');
  }
  return {
    kind: 'PeerAuthentication', location: r.doc.location, namespace: meta.namespace, name: meta.name,
    creationTimestamp: meta.creationTimestamp, selector, mode, portLevelMtls,
  };
}

function readMtls(r: FieldReader, value: unknown, path: string): MtlsMode {
  if (value === undefined || value === null) return 'UNSET';
  const mtls = r.object(value, path, ['mode']);
  if (!mtls || mtls.mode === undefined || mtls.mode === null) return 'UNSET';
  if (typeof mtls.mode === 'string' && (MODES as readonly string[]).includes(mtls.mode)) return mtls.mode as MtlsMode;
  r.error(`${path}.mode`, `must be one of ${MODES.join(', ')}, got ${describe(mtls.mode)}`);
  return 'UNSET';
}
