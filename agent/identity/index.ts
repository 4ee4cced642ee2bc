/**
 * Workload identity, the agent side: the CA API client and its messages, the certificate manager (request,
 * verify, rotate, back off) and the optional Istio-layout certificate files. SPIFFE ids, PEM,
 * DER and X.509 reading are base-layer primitives (agent/base).
 */
export { CREATE_CERTIFICATE_PATH, WATCH_REVOCATIONS_PATH } from './ca-messages.js';
export { writeFileAtomic } from './cert-files.js';
export { createCertManager, type CertManager, type CertManagerOptions, type CertStatus } from './cert-manager.js';
export { checkToken } from './ca-client.js';
export { CrlFile } from './crl-file.js';
export { Revocations, chainDers, type RevocationSource, type RevocationSourceStatus, type Verdict } from './revocations.js';
