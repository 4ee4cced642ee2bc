import { CniCode, CniError } from './errors.js';

/** Spec versions meshnode-cni speaks. 1.1.0 adds STATUS and GC; CHECK exists from 0.4.0. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

function parts(v: string): number[] {
  return v.split('.').map(Number);
}

/** Semantic comparison of two `x.y.z` versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function requireSupportedVersion(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(CniCode.IncompatibleVersion, 'incompatible CNI versions',
      `config cniVersion "${version}"; meshnode-cni supports ${SUPPORTED_VERSIONS.join(', ')}`);
  }
}

/** Refuses a command the config's version does not define (CHECK < 0.4.0, STATUS/GC < 1.1.0). */
export function requireCommandVersion(command: string, version: string): void {
  const minimum = command === 'CHECK' ? '0.4.0' : command === 'STATUS' || command === 'GC' ? '1.1.0' : '0.1.0';
  if (compareVersions(version, minimum) < 0) {
    throw new CniError(CniCode.IncompatibleVersion, `config version does not allow ${command}`,
      `${command} needs cniVersion ${minimum} or later; the config says ${version}`);
  }
}
