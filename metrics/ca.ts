import { Counter, Histogram } from 'prom-client';
import { registry } from './registry.js';

/** `meshnode ca` request metrics; catalogue entry in metrics/README.md ("CA"). */

export const ISSUE_VIAS = ['static-token', 'kubernetes-token', 'client-certificate'] as const;
export type IssueVia = (typeof ISSUE_VIAS)[number];

/**
 * Why a CreateCertificate call was refused: a closed set, so the series stay few, and fine
 * enough that an operator tells a misconfigured audience from an agent on the wrong node.
 */
export const REFUSAL_REASONS = [
  'no-credentials', 'unknown-token', 'token-invalid', 'wrong-audience', 'not-service-account',
  'review-unavailable', 'impersonation-denied', 'untrusted-node-account', 'caller-pod-mismatch',
  'not-on-node', 'identity-revoked', 'invalid-request', 'internal',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export const certificatesIssued = new Counter({
  name: 'meshnode_ca_certificates_issued_total',
  help: 'Workload certificates issued, by how the caller authenticated.',
  labelNames: ['via'] as const,
  registers: [registry],
});

export const requestsRefused = new Counter({
  name: 'meshnode_ca_requests_refused_total',
  help: 'CreateCertificate calls refused, by reason (the CA log names the exact cause of each).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const requestDuration = new Histogram({
  name: 'meshnode_ca_request_duration_seconds',
  help: 'CreateCertificate handling time from the decoded request to the answer, Kubernetes API calls included, by result.',
  labelNames: ['result'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
