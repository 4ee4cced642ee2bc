import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CRL_REASONS, normalizeSerial, type CrlReason } from '../base/crl.js';
import { parseSpiffeId } from '../base/spiffe-id.js';
import { CaKeyMaterialError } from '../ca/errors.js';
import { loadKeyMaterial, ROOT_CERT } from '../ca/key-material.js';
import { crlSigningRefusal } from '../ca/revocation-authority.js';
import {
  readIssued, readRevocations, RevocationStoreError, updateRevocations, type Revocations, type RevokedSerial,
} from '../ca/revocation-store.js';
import { createLogger } from '../telemetry/log.js';
import type { CommandModule } from './command.js';
import { parseFlags, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';

/**
 * `meshnode ca revoke | unrevoke | revocations`: change or list the revocations of the built-in
 * CA in DIR. The running CA (if any) picks a change up within a second, republishes its CRL and
 * pushes it to the agents; these commands never talk to it.
 */

const REASONS = Object.keys(CRL_REASONS).filter((r) => r !== 'removeFromCRL' && r !== 'certificateHold');

const TARGET_FLAGS = {
  dir: { type: 'string' },
  serial: { type: 'string' },
  identity: { type: 'string' },
} as const;

function target(values: { serial?: string | undefined; identity?: string | undefined }): { serial: string } | { identity: string } {
  if ((values.serial === undefined) === (values.identity === undefined)) throw new UsageError('give exactly one of --serial and --identity');
  if (values.serial !== undefined) {
    const hex = values.serial.replace(/:/g, '');
    if (!/^[0-9A-Fa-f]{1,40}$/.test(hex)) throw new UsageError(`--serial: "${values.serial}" is not a hexadecimal serial number`);
    return { serial: normalizeSerial(hex) };
  }
  const parsed = parseSpiffeId(values.identity!);
  if (typeof parsed === 'string') throw new UsageError(`--identity: ${parsed}`);
  return { identity: values.identity! };
}

/** DIR must hold a CA whose certificate may sign CRLs; nothing is created here. */
function checkCaDir(dir: string): void {
  if (!existsSync(join(dir, ROOT_CERT)) && !existsSync(join(dir, 'ca-cert.pem'))) {
    throw new RevocationStoreError(`${dir} holds no CA key material; run \`meshnode ca --dir ${dir}\` first`);
  }
  const refusal = crlSigningRefusal(loadKeyMaterial(dir, 'cluster.local', createLogger('ca')));
  if (refusal) throw new RevocationStoreError(refusal);
}

/** Runs `body`; a store or key-material error is one line on stderr and exit code 1. */
function reported(command: string, body: () => number): number {
  try {
    return body();
  } catch (err) {
    if (!(err instanceof RevocationStoreError || err instanceof CaKeyMaterialError)) throw err;
    process.stderr.write(`meshnode ca ${command}: ${err.message}\n`);
    return 1;
  }
}

function addSerials(current: Revocations, add: RevokedSerial[]): Revocations {
  const known = new Set(current.serials.map((s) => s.serial));
  return { ...current, serials: [...current.serials, ...add.filter((s) => !known.has(s.serial))] };
}

export const revoke: CommandModule = {
  usage: `usage: meshnode ca revoke --dir DIR (--serial HEX | --identity SPIFFE_ID) [--reason REASON]

Revokes, at the built-in CA in DIR, one certificate (--serial, as the CA's audit log and the
agent's /certs show it) or an identity: every unexpired certificate the CA issued for it, and
every new request for it until \`meshnode ca unrevoke --identity\`. The running CA republishes
DIR/ca-crl.pem and pushes the CRL to its agents within a second.

  --reason REASON   CRL reason: ${REASONS.join(', ')} (default unspecified)`,
  run: async (argv) => {
    const values = parseFlags(argv, { ...TARGET_FLAGS, reason: { type: 'string', default: 'unspecified' } });
    const dir = requireFlag(values.dir, 'dir');
    const what = target(values);
    if (!REASONS.includes(values.reason)) throw new UsageError(`--reason: "${values.reason}" is not one of ${REASONS.join(', ')}`);
    const reason = values.reason as CrlReason;
    return reported('revoke', () => {
      checkCaDir(dir);
      const now = new Date();
      const issued = readIssued(dir, now.getTime());
      if ('serial' in what) {
        const record = issued.find((r) => r.serial === what.serial);
        if (!record) throw new RevocationStoreError(`serial ${what.serial} is not an unexpired certificate issued by the CA in ${dir}`);
        updateRevocations(dir, (cur) => addSerials(cur, [{ ...record, revokedAt: now, reason }]));
        process.stdout.write(`revoked serial ${what.serial} (${record.identity}, valid until ${record.notAfter.toISOString()})\n`);
        return 0;
      }
      const certs = issued.filter((r) => r.identity === what.identity);
      updateRevocations(dir, (cur) => ({
        ...addSerials(cur, certs.map((r) => ({ ...r, revokedAt: now, reason }))),
        identities: cur.identities.some((i) => i.identity === what.identity) ? cur.identities : [...cur.identities, { identity: what.identity, revokedAt: now, reason }],
      }));
      process.stdout.write(`revoked identity ${what.identity}: ${certs.length} unexpired certificate(s)${certs.length > 0 ? ` (${certs.map((c) => c.serial).join(', ')})` : ''}; ` +
        'new certificates are refused until `meshnode ca unrevoke --identity`\n');
      return 0;
    });
  },
};

export const unrevoke: CommandModule = {
  usage: `usage: meshnode ca unrevoke --dir DIR (--identity SPIFFE_ID | --serial HEX)

Lets the CA in DIR issue certificates for the identity again (its certificates revoked so far
stay revoked), or removes one serial from the CRL.`,
  run: async (argv) => {
    const values = parseFlags(argv, TARGET_FLAGS);
    const dir = requireFlag(values.dir, 'dir');
    const what = target(values);
    return reported('unrevoke', () => {
      checkCaDir(dir);
      let found = false;
      updateRevocations(dir, (cur) => {
        const next = 'serial' in what
          ? { ...cur, serials: cur.serials.filter((s) => s.serial !== what.serial) }
          : { ...cur, identities: cur.identities.filter((i) => i.identity !== what.identity) };
        found = next.serials.length !== cur.serials.length || next.identities.length !== cur.identities.length;
        return next;
      });
      const name = 'serial' in what ? `serial ${what.serial}` : `identity ${what.identity}`;
      if (!found) throw new RevocationStoreError(`${name} is not revoked`);
      process.stdout.write(`${name} is no longer revoked\n`);
      return 0;
    });
  },
};

export const revocations: CommandModule = {
  usage: `usage: meshnode ca revocations --dir DIR [-o text|json]

Lists the revoked identities and the revoked, unexpired certificates of the CA in DIR.
  -o, --output FORMAT   text (default) or json: {identities: [{identity, revokedAt, reason}],
                        serials: [{serial, identity, notAfter, revokedAt, reason}]}`,
  run: async (argv) => {
    const values = parseFlags(argv, { dir: { type: 'string' }, output: { type: 'string', short: 'o', default: 'text' } });
    const dir = requireFlag(values.dir, 'dir');
    if (values.output !== 'text' && values.output !== 'json') throw new UsageError(`-o: "${values.output}" is not text or json`);
    return reported('revocations', () => {
      const r = readRevocations(dir);
      if (values.output === 'json') {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return 0;
      }
      const lines = [
        `revoked identities: ${r.identities.length}`,
        ...r.identities.map((i) => `  ${i.identity}  since ${i.revokedAt.toISOString()}  ${i.reason}`),
        `revoked certificates: ${r.serials.length}`,
        ...r.serials.map((s) => `  ${s.serial}  ${s.identity}  until ${s.notAfter.toISOString()}  ${s.reason}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    });
  },
};
