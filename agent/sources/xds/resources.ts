import type { StateBatch } from '../../state/types.js';
import type { Authorization, Service, Workload } from '../../model/types.js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE, type DeltaDiscoveryResponse__Output } from './api.js';
import { XdsResourceError } from './errors.js';
import { translateAddress } from './translate-address.js';
import { translateAuthorization } from './translate-authorization.js';

/**
 * What this client holds per resource type: name → (version, kind). It is the source of
 * `initial_resource_versions` on reconnect, so only accepted resources are ever recorded; a
 * rejected update leaves the previous good entry (and its version) in place.
 */

type Kind = 'workload' | 'service' | 'authorization';
interface Held { readonly version: string; readonly kind: Kind }

export interface Rejection { readonly name: string; readonly reason: string }

export interface Translated {
  readonly batch: StateBatch;
  readonly rejected: readonly Rejection[];
  /** Applied after the batch is in the store, so versions never run ahead of the state. */
  commit(): void;
}

export class HeldResources {
  private readonly held = new Map<string, Map<string, Held>>([[ADDRESS_TYPE, new Map()], [AUTHORIZATION_TYPE, new Map()]]);

  versions(typeUrl: string): Record<string, string> {
    return Object.fromEntries([...this.of(typeUrl)].map(([name, h]) => [name, h.version]));
  }

  counts(): { workloads: number; services: number; policies: number } {
    const c = { workloads: 0, services: 0, policies: 0 };
    for (const map of this.held.values()) for (const h of map.values()) {
      if (h.kind === 'workload') c.workloads++;
      else if (h.kind === 'service') c.services++;
      else c.policies++;
    }
    return c;
  }

  count(typeUrl: string): number {
    return this.of(typeUrl).size;
  }

  private of(typeUrl: string): Map<string, Held> {
    const map = this.held.get(typeUrl);
    if (!map) throw new XdsResourceError(`unsupported type ${typeUrl}`);
    return map;
  }

  /** Translates one response into one store batch; a bad resource is rejected alone. */
  translate(res: DeltaDiscoveryResponse__Output): Translated {
    const typeUrl = res.type_url;
    const map = this.of(typeUrl);
    const workloads: Workload[] = [];
    const services: Service[] = [];
    const authorizations: Authorization[] = [];
    const removeWorkloads: string[] = [];
    const removeServices: string[] = [];
    const removeAuthorizations: string[] = [];
    const rejected: Rejection[] = [];
    const record = new Map<string, Held | undefined>();
    for (const name of res.removed_resources) {
      const held = map.get(name);
      // A name never held needs no removal (istiod may report names it merely never sent us).
      if (!held) continue;
      (held.kind === 'workload' ? removeWorkloads : held.kind === 'service' ? removeServices : removeAuthorizations).push(name);
      record.set(name, undefined);
    }
    for (const r of res.resources) {
      const name = r.name;
      try {
        if (name === '') throw new XdsResourceError('resource has no name');
        if (!r.resource) throw new XdsResourceError('resource has no payload');
        if (typeUrl === AUTHORIZATION_TYPE) {
          authorizations.push(translateAuthorization(name, r.resource));
          record.set(name, { version: r.version, kind: 'authorization' });
          continue;
        }
        const entry = translateAddress(name, r.resource);
        const previous = map.get(name);
        // A name switching between workload and service must not leave the old one behind.
        if (previous && previous.kind !== entry.kind) (previous.kind === 'workload' ? removeWorkloads : removeServices).push(name);
        if (entry.kind === 'workload') workloads.push(entry.workload);
        else services.push(entry.service);
        record.set(name, { version: r.version, kind: entry.kind });
      } catch (err) {
        rejected.push({ name: name || '(unnamed)', reason: err instanceof XdsResourceError ? err.message : String(err) });
      }
    }
    const batch: StateBatch = typeUrl === AUTHORIZATION_TYPE
      ? { authorizations: { upsert: authorizations, remove: removeAuthorizations } }
      : { workloads: { upsert: workloads, remove: removeWorkloads }, services: { upsert: services, remove: removeServices } };
    return {
      batch, rejected,
      commit: () => {
        for (const [name, held] of record) {
          if (held) map.set(name, held);
          else map.delete(name);
        }
      },
    };
  }
}
