import { describe } from '../../config/field-reader.js';
import { parseCidr } from '../../base/ip.js';
import type { FieldReader } from './fields.js';
import { parseGoBool, type ObjectMeta } from './metadata.js';
import type {
  AuthorizationAction, ParsedAuthorizationPolicy, ParsedCondition, ParsedOperation, ParsedRule, ParsedSource,
} from './types.js';
import { isIpKey, whenKeyProblem } from './when-keys.js';

const SPEC = ['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules'];
const SELECTOR = ['matchLabels'];
const TARGET_REF = ['group', 'kind', 'name', 'namespace'];
const RULE = ['from', 'to', 'when'];
const SOURCE_STRINGS = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains',
] as const;
const SOURCE_CIDRS = ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const OPERATION_STRINGS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const ACTIONS: readonly AuthorizationAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];
const DRY_RUN = 'istio.io/dry-run';

export function parseAuthorizationPolicy(r: FieldReader, meta: ObjectMeta): ParsedAuthorizationPolicy | undefined {
  const spec = r.object(meta.spec, 'spec', SPEC);
  if (!spec) return undefined;
  const selector = readSelector(r, spec.selector, 'spec.selector');
  const hasTargetRef = readTargetRefs(r, spec);
  if (hasTargetRef && spec.selector !== undefined) r.error('spec', 'only one of targetRef, targetRefs or selector can be set');
  const action = readAction(r, spec.action);
  const provider = readProvider(r, spec.provider, action);
  const rules = r.list(spec.rules, 'spec.rules').map((rule, i) => readRule(r, rule, `spec.rules[${i}]`));
  if (action === 'DENY' && rules.length === 0) {
    r.warn('spec.rules', 'a DENY policy without rules matches nothing and has no effect (Istio admission rejects it)');
  }
  return {
    kind: 'AuthorizationPolicy', location: r.doc.location, namespace: meta.namespace, name: meta.name,
    creationTimestamp: meta.creationTimestamp, selector, action: action ?? 'ALLOW', provider, hasTargetRef,
    dryRun: readDryRun(r, meta.annotations), rules: rules.filter((x): x is ParsedRule => x !== undefined),
  };
}

export function readSelector(r: FieldReader, value: unknown, path: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  const selector = r.object(value, path, SELECTOR);
  return selector ? r.stringMap(selector.matchLabels, `${path}.matchLabels`) ?? {} : {};
}

function readTargetRefs(r: FieldReader, spec: Record<string, unknown>): boolean {
  if (spec.targetRef !== undefined && spec.targetRefs !== undefined) {
    r.error('spec.targetRefs', 'only one of targetRef or targetRefs can be set');
  }
  const refs = spec.targetRef !== undefined ? [[spec.targetRef, 'spec.targetRef'] as const]
    : r.list(spec.targetRefs, 'spec.targetRefs').map((ref, i) => [ref, `spec.targetRefs[${i}]`] as const);
  for (const [ref, path] of refs) {
    const o = r.object(ref, path, TARGET_REF);
    if (!o) continue;
    for (const key of TARGET_REF) r.string(o[key], `${path}.${key}`);
    if (!o.kind || !o.name) r.error(path, 'kind and name are required');
  }
  return refs.length > 0;
}

function readAction(r: FieldReader, value: unknown): AuthorizationAction | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && (ACTIONS as readonly string[]).includes(value)) return value as AuthorizationAction;
  r.error('spec.action', `must be one of ${ACTIONS.join(', ')}, got ${describe(value)}`);
  return undefined;
}

function readProvider(r: FieldReader, value: unknown, action: AuthorizationAction | undefined): string | undefined {
  if (value === undefined || value === null) {
    if (action === 'CUSTOM') r.error('spec.provider', 'is required when action is CUSTOM');
    return undefined;
  }
  const provider = r.object(value, 'spec.provider', ['name']);
  const name = provider && r.string(provider.name, 'spec.provider.name');
  if (provider && !name) r.error('spec.provider.name', 'is required');
  if (action !== 'CUSTOM') r.error('spec.provider', 'is only allowed with action CUSTOM');
  return name;
}

function readDryRun(r: FieldReader, annotations: Readonly<Record<string, string>>): boolean {
  const text = annotations[DRY_RUN];
  if (text === undefined) return false;
  const value = parseGoBool(text);
  if (value === undefined) {
    r.warn(`metadata.annotations.${DRY_RUN}`, `"${text}" is not a boolean (true/false/1/0/t/f); the policy is enforced, not dry-run`);
  }
  return value ?? false;
}

function readRule(r: FieldReader, value: unknown, path: string): ParsedRule | undefined {
  const rule = r.object(value ?? {}, path, RULE);
  if (!rule) return undefined;
  return {
    from: r.list(rule.from, `${path}.from`).map((f, j) => readFrom(r, f, `${path}.from[${j}]`)),
    to: r.list(rule.to, `${path}.to`).map((t, j) => readTo(r, t, `${path}.to[${j}]`)),
    when: r.list(rule.when, `${path}.when`).map((w, k) => readCondition(r, w, `${path}.when[${k}]`))
      .filter((c): c is ParsedCondition => c !== undefined),
  };
}

function readFrom(r: FieldReader, value: unknown, path: string): ParsedSource | undefined {
  const from = r.object(value ?? {}, path, ['source']);
  const source = from && from.source !== undefined && from.source !== null ? r.object(from.source, `${path}.source`, [...SOURCE_STRINGS, ...SOURCE_CIDRS]) : undefined;
  if (!from || !source) {
    if (from) r.warn(`${path}.source`, 'missing source matches nothing at L4 (Istio admission rejects it)');
    return undefined;
  }
  const p = `${path}.source`;
  const out = {} as Record<(typeof SOURCE_STRINGS)[number] | (typeof SOURCE_CIDRS)[number], string[]>;
  for (const key of SOURCE_STRINGS) out[key] = r.strings(source[key], `${p}.${key}`);
  for (const key of SOURCE_CIDRS) out[key] = readCidrs(r, source[key], `${p}.${key}`);
  for (const key of ['serviceAccounts', 'notServiceAccounts'] as const) checkServiceAccounts(r, out[key], `${p}.${key}`);
  if ((out.serviceAccounts.length > 0 || out.notServiceAccounts.length > 0) &&
      (out.principals.length + out.notPrincipals.length + out.namespaces.length + out.notNamespaces.length > 0)) {
    r.error(p, 'serviceAccounts/notServiceAccounts cannot be combined with principals or namespaces');
  }
  if (Object.values(out).every((list) => list.length === 0)) {
    r.warn(p, 'empty source matches nothing at L4 (Istio admission rejects it)');
    return undefined;
  }
  return out;
}

function checkServiceAccounts(r: FieldReader, values: string[], path: string): void {
  values.forEach((sa, i) => {
    const parts = sa.split('/');
    if (sa.includes('*')) r.error(`${path}[${i}]`, `wildcards are not supported in service accounts, got "${sa}"`);
    else if (parts.length > 2 || parts.some((s) => s === '')) {
      r.error(`${path}[${i}]`, `must be SERVICE_ACCOUNT or NAMESPACE/SERVICE_ACCOUNT, got "${sa}"`);
    }
  });
}

function readTo(r: FieldReader, value: unknown, path: string): ParsedOperation | undefined {
  const to = r.object(value ?? {}, path, ['operation']);
  const op = to && to.operation !== undefined && to.operation !== null
    ? r.object(to.operation, `${path}.operation`, [...OPERATION_STRINGS, 'ports', 'notPorts']) : undefined;
  if (!to || !op) {
    if (to) r.warn(`${path}.operation`, 'missing operation matches nothing at L4 (Istio admission rejects it)');
    return undefined;
  }
  const p = `${path}.operation`;
  const out = {} as Record<(typeof OPERATION_STRINGS)[number], string[]>;
  for (const key of OPERATION_STRINGS) out[key] = r.strings(op[key], `${p}.${key}`);
  const parsed = { ...out, ports: readPorts(r, op.ports, `${p}.ports`), notPorts: readPorts(r, op.notPorts, `${p}.notPorts`) };
  if (Object.values(parsed).every((list) => list.length === 0)) {
    r.warn(p, 'empty operation matches nothing at L4 (Istio admission rejects it)');
    return undefined;
  }
  return parsed;
}

function readCondition(r: FieldReader, value: unknown, path: string): ParsedCondition | undefined {
  const cond = r.object(value, path, ['key', 'values', 'notValues']);
  if (!cond) return undefined;
  const key = r.string(cond.key, `${path}.key`);
  const scalar = (v: unknown) => (typeof v === 'number' ? String(v) : v);
  const values = r.strings(r.list(cond.values, `${path}.values`).map(scalar), `${path}.values`);
  const notValues = r.strings(r.list(cond.notValues, `${path}.notValues`).map(scalar), `${path}.notValues`);
  if (!key) {
    r.error(`${path}.key`, 'is required');
    return undefined;
  }
  const keyProblem = whenKeyProblem(key);
  if (keyProblem) r.error(`${path}.key`, keyProblem);
  if (values.length === 0 && notValues.length === 0) r.error(path, `at least one of values or notValues must be set for key ${key}`);
  for (const [list, field] of [[values, 'values'], [notValues, 'notValues']] as const) {
    list.forEach((v, i) => {
      const at = `${path}.${field}[${i}]`;
      if (isIpKey(key)) checkCidr(r, v, at);
      if (key === 'destination.port') parsePortValue(r, v, at);
    });
  }
  return keyProblem ? undefined : { key, values, notValues };
}

function readCidrs(r: FieldReader, value: unknown, path: string): string[] {
  return r.strings(value, path).filter((v, i) => checkCidr(r, v, `${path}[${i}]`));
}

function checkCidr(r: FieldReader, text: string, path: string): boolean {
  const parsed = parseCidr(text);
  if (typeof parsed === 'string') r.error(path, parsed);
  return typeof parsed !== 'string';
}

function readPorts(r: FieldReader, value: unknown, path: string): number[] {
  const out: number[] = [];
  r.list(value, path).forEach((item, i) => {
    const port = parsePortValue(r, item, `${path}[${i}]`);
    if (port !== undefined) out.push(port);
  });
  return out;
}

/** A port written as a decimal string (the API type) or a YAML integer. */
export function parsePortValue(r: FieldReader, value: unknown, path: string): number | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text === 'string' && /^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65535) return Number(text);
  r.error(path, `must be a port number 1-65535 (no ranges or names), got ${describe(value)}`);
  return undefined;
}
