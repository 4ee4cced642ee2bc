import { Counter, Gauge } from 'prom-client';
import { registry } from './registry.js';

/** Certificate manager metrics; catalogue entry in metrics/README.md ("Identity"). */

export const certExpiryTimestamp = new Gauge({
  name: 'meshnode_identity_cert_expiry_timestamp_seconds',
  help: 'notAfter of the certificate currently held for each identity, as a Unix timestamp',
  labelNames: ['identity'] as const,
  registers: [registry],
});

export const csrRequests = new Counter({
  name: 'meshnode_identity_csr_requests_total',
  help: 'CreateCertificate requests sent to the CA',
  registers: [registry],
});

export const csrFailures = new Counter({
  name: 'meshnode_identity_csr_failures_total',
  help: 'Certificate requests that did not yield a usable certificate, by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const crlLoads = new Counter({
  name: 'meshnode_revocation_crl_loads_total',
  help: 'CRL sets offered to the agent, by source (file: --crl, ca: the CA push) and result (ok, error: the last good set stays)',
  labelNames: ['source', 'result'] as const,
  registers: [registry],
});

export const crlInUse = new Gauge({
  name: 'meshnode_revocation_revoked_serials',
  help: 'Revoked serial numbers listed by the CRLs in force, by source',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const ownCertRevoked = new Counter({
  name: 'meshnode_identity_revoked_certificates_total',
  help: 'Certificates held by the agent found revoked, each replaced by a new key and certificate at once',
  registers: [registry],
});
