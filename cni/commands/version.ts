import { SUPPORTED_VERSIONS } from '../version.js';

/** VERSION: echoes the requested version and lists the supported ones. */
export function version(requested: string | undefined): Record<string, unknown> {
  return { cniVersion: requested ?? '1.0.0', supportedVersions: [...SUPPORTED_VERSIONS] };
}
