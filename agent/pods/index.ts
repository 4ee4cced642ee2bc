/**
 * Pods the CNI plugin registered: the registry (netns, listeners, enrolment), its persistence
 * under --state-dir, and the pod API server on the unix socket.
 */
export { CniApiServer, DEFAULT_CNI_SOCKET } from './cni-api.js';
export { type RegisteredPod } from './registered-pod.js';
export { PodRegistry } from './registry.js';
export { PodStore } from './store.js';
export { EnrollmentFile } from './enrollment-file.js';
export { LiveEnrollment } from './live-enrollment.js';
