import { ENROLL_LABEL, ENROLL_VALUES } from '../enrollment.js';
import { KNOWN, warnUnknownFields } from './known-fields.js';
import type { ObjectReader } from './reader.js';

export interface Metadata {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly uid: string | undefined;
}

/** RFC 1123 subdomain (object names) and label (namespace names), as the API server checks them. */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespaced object's name, as the API server accepts it (RFC 1123 subdomain, ≤ 253). */
export function isObjectName(name: string): boolean {
  return name.length <= 253 && SUBDOMAIN.test(name);
}

/** A namespace's name, and a cluster-scoped object's (RFC 1123 label, ≤ 63). */
export function isNamespaceName(name: string): boolean {
  return name.length <= 63 && LABEL.test(name);
}

/** A service account name becomes part of a SPIFFE identity, so it must be a valid name too. */
export function readServiceAccount(r: ObjectReader, value: unknown, path: string): string | undefined {
  const name = r.string(value, path);
  if (name === undefined || name === '') return undefined;
  if (isObjectName(name)) return name;
  r.error(path, `"${name}" is not a valid service account name (lower-case letters, digits, "-" and ".")`);
  return undefined;
}

/**
 * `metadata` of any object. A missing namespace means `default`, where `kubectl apply` would put
 * the object. Returns undefined when the object cannot be named (no usable metadata.name).
 */
export function readMetadata(r: ObjectReader, namespaced: boolean): Metadata | undefined {
  const meta = r.record(r.doc.body.metadata, 'metadata') ?? {};
  warnUnknownFields(r, r.doc.body, '', KNOWN.object);
  warnUnknownFields(r, meta, 'metadata', KNOWN.metadata);
  const name = r.string(meta.name, 'metadata.name');
  const namespace = namespaced ? r.string(meta.namespace, 'metadata.namespace') ?? 'default' : '';
  const labels = r.stringMap(meta.labels, 'metadata.labels');
  const annotations = r.stringMap(meta.annotations, 'metadata.annotations');
  const uid = r.string(meta.uid, 'metadata.uid');
  checkEnrollLabel(r, labels);
  if (namespaced && !isNamespaceName(namespace)) {
    r.error('metadata.namespace', `"${namespace}" is not a valid namespace name (lower-case letters, digits and "-", at most 63)`);
  }
  if (name === undefined || name === '') {
    r.error('metadata.name', 'is required');
    return undefined;
  }
  if (!(namespaced ? isObjectName(name) : isNamespaceName(name))) {
    r.error('metadata.name', `"${name}" is not a valid name (lower-case letters, digits, "-"${namespaced ? ' and "."' : ''})`);
    return undefined;
  }
  return { name, namespace, labels, annotations, uid };
}

/** A misspelt enrolment value would silently leave workloads outside the mesh, so say so. */
function checkEnrollLabel(r: ObjectReader, labels: Readonly<Record<string, string>>): void {
  const value = labels[ENROLL_LABEL];
  if (value !== undefined && !ENROLL_VALUES.includes(value)) {
    r.warn(`metadata.labels.${ENROLL_LABEL}`, `unknown value "${value}" (expected ${ENROLL_VALUES.join(' or ')}); treated as absent`, 'metadata.labels');
  }
}
