import { isNamespaceName, isObjectName } from '../objects/metadata.js';
import type { FieldReader } from './fields.js';

const TOP_LEVEL = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const OBJECT_META = [
  'name', 'namespace', 'labels', 'annotations', 'creationTimestamp', 'uid', 'resourceVersion',
  'generation', 'generateName', 'finalizers', 'ownerReferences', 'managedFields',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink',
];

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly creationTimestamp: number | undefined;
  /** The raw `spec` (`{}` when absent); the kind's parser checks its fields. */
  readonly spec: unknown;
}

/**
 * Top-level fields and metadata of a security object. A missing namespace means `default`, as
 * `kubectl apply` would place it.
 */
export function readObjectMeta(r: FieldReader): ObjectMeta | undefined {
  const body = r.object(r.doc.body, '', TOP_LEVEL);
  const meta = body && r.object(body.metadata ?? {}, 'metadata', OBJECT_META);
  if (!body || !meta) return undefined;
  const written = r.string(meta.name, 'metadata.name');
  if (!written) r.error('metadata.name', 'is required');
  // The name is printed in problems and policy ids (`ns/name`); the API server would refuse others.
  const name = written && !isObjectName(written) ? undefined : written;
  if (written && !name) r.error('metadata.name', `"${written}" is not a valid name (lower-case letters, digits, "-" and ".", at most 253)`);
  const namespace = r.string(meta.namespace, 'metadata.namespace') || 'default';
  if (!isNamespaceName(namespace)) {
    r.error('metadata.namespace', `"${namespace}" is not a valid namespace name (lower-case letters, digits and "-", at most 63)`);
  }
  const annotations = r.stringMap(meta.annotations, 'metadata.annotations') ?? {};
  r.stringMap(meta.labels, 'metadata.labels');
  const creationTimestamp = readTimestamp(r, meta.creationTimestamp);
  if (!name) return undefined;
  return { name, namespace, annotations, creationTimestamp, spec: body.spec ?? {} };
}

function readTimestamp(r: FieldReader, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    r.error('metadata.creationTimestamp', `must be an RFC 3339 time such as 2024-01-02T03:04:05Z, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return ms;
}

/** Go `strconv.ParseBool`: the only spellings istiod accepts for `istio.io/dry-run`. */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}
