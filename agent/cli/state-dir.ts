/** The agent's state directory: pod registrations, the host rules record. */
export const DEFAULT_STATE_DIR = '/var/lib/meshnode';
