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
