import { Problems, formatProblem, type Problem } from '../../config/problems.js';
import type { ParsedObject, ParsedServiceSource } from '../objects/parsed.js';
import type { SecurityObject } from '../security/index.js';
import { reportVipConflict } from '../services.js';
import type { Authorization, MeshSettings, Service, Workload } from '../types.js';
import { podUid, reportAddressConflict, workloadEntryUid, type WorkloadDraft } from '../workloads.js';
import { emptyInputs, translateNamespace, type NamespaceInputs, type NamespaceOutputs } from './namespace.js';
import { fingerprint } from '../../base/fingerprint.js';

/** One Kubernetes or Istio object as read; the translation's unit of input. */
export type TranslatorInput = ParsedObject | SecurityObject;

export function inputKey(o: TranslatorInput): string {
  return `${o.kind}/${o.namespace}/${o.name}`;
}

/** The namespace an input belongs to; a Namespace object belongs to itself. */
function groupOf(o: TranslatorInput): string {
  return o.kind === 'Namespace' ? o.name : o.namespace;
}

/** Changes to the translation's outputs, in the shape the state store applies. */
export interface TranslationDelta {
  readonly workloads: { readonly upsert: Workload[]; readonly remove: string[] };
  readonly services: { readonly upsert: Service[]; readonly remove: string[] };
  readonly authorizations: { readonly upsert: Authorization[]; readonly remove: string[] };
  readonly ambientNamespaces: { readonly upsert: string[]; readonly remove: string[] };
}

/** A computed but not yet accepted translation step: `commit()` makes it the new baseline. */
export interface PendingTranslation {
  /** Problems of the recomputed part only (unchanged inputs were reported when they arrived). */
  readonly problems: Problem[];
  readonly delta: TranslationDelta;
  /** How many namespaces were recomputed, and how many of them whole. */
  readonly recomputed: { namespaces: number; whole: number; workloads: number };
  commit(): void;
}

interface Committed {
  readonly inputs: NamespaceInputs;
  readonly outputs: NamespaceOutputs;
}

/**
 * Kubernetes/Istio objects → the mesh state's workloads, services and authorizations, translated
 * incrementally. It keeps every input by key with its fingerprint and what each namespace
 * translated to; a step recomputes only what changed inputs reach: a changed pod, only that
 * workload; a changed Service, policy or Namespace, that namespace; a changed root-namespace
 * policy, every namespace. Conflicts that cross namespaces (two workloads on one IP, two
 * services on one VIP) are checked against the whole baseline. Pure: no I/O, no clock.
 */
export class MeshTranslator {
  private readonly namespaces = new Map<string, Committed>();
  private readonly prints = new Map<string, string>();
  /** Committed IP → owning workload draft, and VIP → owning service source. */
  private readonly ipOwners = new Map<string, WorkloadDraft>();
  private readonly vipOwners = new Map<string, ParsedServiceSource>();
  private counts = { workloads: 0, services: 0, policies: 0 };

  constructor(readonly settings: MeshSettings) {}

  get size(): { workloads: number; services: number; policies: number } {
    return this.counts;
  }

  /** Every input of the new state: what is not listed is removed, what is unchanged is skipped. */
  replaceAll(inputs: readonly TranslatorInput[]): PendingTranslation {
    const seen = new Set<string>();
    const upsert: TranslatorInput[] = [];
    for (const o of inputs) {
      const key = inputKey(o);
      seen.add(key);
      if (this.prints.get(key) !== inputPrint(o)) upsert.push(o);
    }
    const remove = [...this.prints.keys()].filter((k) => !seen.has(k));
    return this.update(upsert, remove);
  }

  /** Upserts and removals (by `inputKey`). */
  update(upsert: readonly TranslatorInput[], remove: readonly string[]): PendingTranslation {
    const next = new Map<string, NamespaceInputs>();
    const whole = new Set<string>();
    const changedWorkloads = new Map<string, Set<string>>();
    const inputsOf = (ns: string): NamespaceInputs => {
      let inputs = next.get(ns);
      if (!inputs) {
        const old = this.namespaces.get(ns)?.inputs ?? emptyInputs();
        inputs = { namespace: old.namespace, workloads: new Map(old.workloads), services: new Map(old.services), security: new Map(old.security) };
        next.set(ns, inputs);
      }
      return inputs;
    };
    const touch = (o: TranslatorInput, present: boolean) => {
      const ns = groupOf(o);
      const inputs = inputsOf(ns);
      const key = inputKey(o);
      if (o.kind === 'Pod' || o.kind === 'WorkloadEntry') {
        if (present) inputs.workloads.set(key, o); else inputs.workloads.delete(key);
        let set = changedWorkloads.get(ns);
        if (!set) changedWorkloads.set(ns, (set = new Set()));
        set.add(key);
        return;
      }
      whole.add(ns);
      if (o.kind === 'Namespace') inputs.namespace = present ? o : undefined;
      else if (o.kind === 'Service' || o.kind === 'ServiceEntry') { if (present) inputs.services.set(key, o); else inputs.services.delete(key); }
      else if (present) inputs.security.set(key, o); else inputs.security.delete(key);
    };
    for (const key of remove) {
      const old = this.findInput(key);
      if (old) touch(old, false);
    }
    for (const o of upsert) touch(o, true);
    const root = this.settings.rootNamespace;
    if (whole.has(root) && this.rootSecurityChanged(next.get(root))) {
      for (const ns of this.namespaces.keys()) { inputsOf(ns); whole.add(ns); }
    }
    return this.translate(next, whole, changedWorkloads, upsert, remove);
  }

  private translate(
    next: Map<string, NamespaceInputs>, whole: Set<string>, changedWorkloads: Map<string, Set<string>>,
    upsert: readonly TranslatorInput[], remove: readonly string[],
  ): PendingTranslation {
    const problems = new Problems();
    const root = this.settings.rootNamespace;
    const rootInputs = next.get(root) ?? this.namespaces.get(root)?.inputs;
    const rootSecurity = [...(rootInputs?.security.values() ?? [])];
    const outputs = new Map<string, NamespaceOutputs>();
    let workloadCount = 0;
    for (const [ns, inputs] of next) {
      const old = this.namespaces.get(ns)?.outputs;
      const local = new Problems();
      if (whole.has(ns) || !old) {
        outputs.set(ns, translateNamespace(ns, inputs, inputs.workloads.values(), rootSecurity, this.settings, local));
        workloadCount += inputs.workloads.size;
      } else {
        const keys = changedWorkloads.get(ns) ?? new Set<string>();
        const sources = [...keys].map((k) => inputs.workloads.get(k)).filter((s) => s !== undefined);
        const part = translateNamespace(ns, inputs, sources, rootSecurity, this.settings, local);
        workloadCount += sources.length;
        const workloads = new Map(old.workloads);
        for (const k of keys) workloads.delete(uidOfInput(k));
        for (const [uid, w] of part.workloads) workloads.set(uid, w);
        // Policies converted from PeerAuthentication follow the workloads they were made for.
        const authorizations = new Map(old.authorizations);
        for (const [k, a] of part.authorizations) authorizations.set(k, a);
        outputs.set(ns, { ambient: part.ambient, workloads, services: old.services, authorizations });
      }
      mergeUnique(problems, local);
    }
    const addresses = this.checkAddresses(next, outputs, changedWorkloads, whole, problems);
    const vips = this.checkVips(next, whole, problems);
    const delta = this.delta(outputs, changedWorkloads, whole);
    return {
      problems: problems.list, delta,
      recomputed: { namespaces: next.size, whole: [...next.keys()].filter((ns) => whole.has(ns) || !this.namespaces.has(ns)).length, workloads: workloadCount },
      commit: () => this.commit(next, outputs, upsert, remove, addresses, vips),
    };
  }

  private commit(
    next: Map<string, NamespaceInputs>, outputs: Map<string, NamespaceOutputs>, upsert: readonly TranslatorInput[], remove: readonly string[],
    addresses: Claims<WorkloadDraft>, vips: Claims<ParsedServiceSource>,
  ): void {
    for (const key of remove) this.prints.delete(key);
    for (const o of upsert) this.prints.set(inputKey(o), inputPrint(o));
    moveClaims(this.ipOwners, addresses, (d) => d.addresses);
    moveClaims(this.vipOwners, vips, (s) => s.vips);
    for (const [ns, inputs] of next) {
      if (isEmptyInputs(inputs)) this.namespaces.delete(ns);
      else this.namespaces.set(ns, { inputs, outputs: outputs.get(ns)! });
    }
    let workloads = 0, services = 0, policies = 0;
    for (const { inputs, outputs: out } of this.namespaces.values()) {
      workloads += out.workloads.size;
      services += out.services.size;
      policies += inputs.security.size;
    }
    this.counts = { workloads, services, policies };
  }

  private findInput(key: string): TranslatorInput | undefined {
    const [kind, ns, name] = splitKey(key);
    const inputs = this.namespaces.get(kind === 'Namespace' ? name : ns)?.inputs;
    if (!inputs) return undefined;
    if (kind === 'Namespace') return inputs.namespace;
    return inputs.workloads.get(key) ?? inputs.services.get(key) ?? inputs.security.get(key);
  }

  private rootSecurityChanged(next: NamespaceInputs | undefined): boolean {
    const old = this.namespaces.get(this.settings.rootNamespace)?.inputs.security ?? new Map<string, SecurityObject>();
    const now = next?.security ?? new Map<string, SecurityObject>();
    if (old.size !== now.size) return true;
    for (const [k, o] of now) if (old.get(k) !== o) return true;
    return false;
  }

  /** New or changed workloads must not claim an IP another workload holds. */
  private checkAddresses(
    next: Map<string, NamespaceInputs>, outputs: Map<string, NamespaceOutputs>, changed: Map<string, Set<string>>, whole: Set<string>, problems: Problems,
  ): Claims<WorkloadDraft> {
    const replaced = new Set<WorkloadDraft>();
    for (const ns of next.keys()) {
      const old = this.namespaces.get(ns)?.outputs;
      if (!old) continue;
      if (whole.has(ns)) for (const { draft } of old.workloads.values()) replaced.add(draft);
      else for (const k of changed.get(ns) ?? []) { const w = old.workloads.get(uidOfInput(k)); if (w) replaced.add(w.draft); }
    }
    const claimed = new Map<string, WorkloadDraft>();
    for (const [ns, out] of outputs) {
      for (const { draft } of this.recomputedWorkloads(ns, out, changed, whole)) {
        if (draft.networkMode === 'HostNetwork') continue;
        for (const ip of draft.addresses) {
          const committed = this.ipOwners.get(ip);
          const other = claimed.get(ip) ?? (committed && !replaced.has(committed) ? committed : undefined);
          if (other) reportAddressConflict(draft, ip, other, problems);
          else claimed.set(ip, draft);
        }
      }
    }
    return { replaced, claimed };
  }

  /** Services of recomputed namespaces must not claim a VIP a service elsewhere holds. */
  private checkVips(next: Map<string, NamespaceInputs>, whole: Set<string>, problems: Problems): Claims<ParsedServiceSource> {
    const replaced = new Set<ParsedServiceSource>();
    for (const ns of whole) for (const s of this.namespaces.get(ns)?.inputs.services.values() ?? []) replaced.add(s);
    const claimed = new Map<string, ParsedServiceSource>();
    for (const ns of whole) {
      for (const s of next.get(ns)?.services.values() ?? []) {
        for (const vip of new Set(s.vips)) {
          const committed = this.vipOwners.get(vip);
          const other = claimed.get(vip) ?? (committed && !replaced.has(committed) ? committed : undefined);
          // Within one namespace the service builder already reported it.
          if (other && other.namespace !== s.namespace) reportVipConflict(s, vip, other, problems);
          else if (!other) claimed.set(vip, s);
        }
      }
    }
    return { replaced, claimed };
  }

  /**
   * The workloads a step recomputed in one namespace: all of them when it was recomputed whole
   * (or is new), otherwise only the changed ones, so a pod event in a large namespace costs what
   * it touches.
   */
  private recomputedWorkloads(
    ns: string, out: NamespaceOutputs, changed: Map<string, Set<string>>, whole: Set<string>,
  ): Iterable<{ workload: Workload; draft: WorkloadDraft }> {
    if (whole.has(ns) || !this.namespaces.has(ns)) return out.workloads.values();
    return [...changed.get(ns) ?? []].map((k) => out.workloads.get(uidOfInput(k))).filter((w) => w !== undefined);
  }

  /** Output differences between the baseline and the recomputed namespaces, by fingerprint. */
  private delta(outputs: Map<string, NamespaceOutputs>, changed: Map<string, Set<string>>, whole: Set<string>): TranslationDelta {
    const delta: TranslationDelta = {
      workloads: { upsert: [], remove: [] }, services: { upsert: [], remove: [] },
      authorizations: { upsert: [], remove: [] }, ambientNamespaces: { upsert: [], remove: [] },
    };
    for (const [ns, out] of outputs) {
      const old = this.namespaces.get(ns)?.outputs;
      if (old && !whole.has(ns)) {
        for (const key of changed.get(ns) ?? []) {
          const uid = uidOfInput(key);
          diffOne(uid, old.workloads.get(uid)?.workload, out.workloads.get(uid)?.workload, delta.workloads);
        }
      } else {
        diffMaps(old && mapValues(old.workloads, (w) => w.workload), mapValues(out.workloads, (w) => w.workload), delta.workloads);
      }
      diffMaps(old?.services, out.services, delta.services);
      if (out.ambient !== (old?.ambient ?? false)) (out.ambient ? delta.ambientNamespaces.upsert : delta.ambientNamespaces.remove).push(ns);
    }
    this.authorizationDelta(outputs, delta);
    return delta;
  }

  /**
   * Several namespaces produce the same authorization (root-namespace policies, the shared
   * static STRICT policy): one is removed only when no namespace produces it any more.
   */
  private authorizationDelta(outputs: Map<string, NamespaceOutputs>, delta: TranslationDelta): void {
    const touched = new Set<string>();
    for (const [ns, out] of outputs) {
      for (const k of this.namespaces.get(ns)?.outputs.authorizations.keys() ?? []) touched.add(k);
      for (const k of out.authorizations.keys()) touched.add(k);
    }
    for (const key of touched) {
      let now: Authorization | undefined;
      let before: Authorization | undefined;
      for (const [ns, c] of this.namespaces) {
        before ??= c.outputs.authorizations.get(key);
        now ??= (outputs.get(ns) ?? c.outputs).authorizations.get(key);
      }
      for (const [ns, out] of outputs) if (!this.namespaces.has(ns)) now ??= out.authorizations.get(key);
      if (!now) { if (before) delta.authorizations.remove.push(key); continue; }
      if (!before || fingerprint(before) !== fingerprint(now)) delta.authorizations.upsert.push(now);
    }
  }
}

function uidOfInput(key: string): string {
  const [kind, ns, name] = splitKey(key);
  return kind === 'Pod' ? podUid(ns, name) : workloadEntryUid(ns, name);
}

/**
 * Content and place: an object that moved within its file is re-translated so that every
 * problem report names where things are now (outputs carry no places, so the state sees no change).
 */
function inputPrint(o: TranslatorInput): string {
  return `${o.location.file}:${o.location.index}:${o.location.line}|${fingerprint(o)}`;
}

function splitKey(key: string): [string, string, string] {
  const [kind = '', ns = '', ...rest] = key.split('/');
  return [kind, ns, rest.join('/')];
}

/** What a step takes over: owners it replaces and addresses it claims. */
interface Claims<T> {
  readonly replaced: ReadonlySet<T>;
  readonly claimed: ReadonlyMap<string, T>;
}

function moveClaims<T>(owners: Map<string, T>, claims: Claims<T>, addressesOf: (owner: T) => readonly string[]): void {
  for (const owner of claims.replaced) for (const a of addressesOf(owner)) if (owners.get(a) === owner) owners.delete(a);
  for (const [a, owner] of claims.claimed) owners.set(a, owner);
}

function isEmptyInputs(i: NamespaceInputs): boolean {
  return !i.namespace && i.workloads.size === 0 && i.services.size === 0 && i.security.size === 0;
}

function mapValues<K, V, W>(m: ReadonlyMap<K, V>, f: (v: V) => W): Map<K, W> {
  const out = new Map<K, W>();
  for (const [k, v] of m) out.set(k, f(v));
  return out;
}

function diffMaps<T>(old: ReadonlyMap<string, T> | undefined, now: ReadonlyMap<string, T>, into: { upsert: T[]; remove: string[] }): void {
  for (const [k, v] of now) diffOne(k, old?.get(k), v, into);
  for (const k of old?.keys() ?? []) if (!now.has(k)) into.remove.push(k);
}

function diffOne<T>(key: string, before: T | undefined, now: T | undefined, into: { upsert: T[]; remove: string[] }): void {
  if (now === undefined) {
    if (before !== undefined) into.remove.push(key);
    return;
  }
  if (before === undefined || (before !== now && fingerprint(before) !== fingerprint(now))) into.upsert.push(now);
}

/** Root-namespace policies are translated once per namespace; report each problem once. */
function mergeUnique(into: Problems, from: Problems): void {
  const seen = new Set(into.list.map(formatProblem));
  for (const p of from.list) {
    const text = formatProblem(p);
    if (seen.has(text)) continue;
    seen.add(text);
    into.list.push(p);
  }
}
