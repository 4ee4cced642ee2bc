/** Host-network mode (VMs, bare metal): the capture rules of the host netns follow the mesh. */
export { HostCapture } from './host-capture.js';
export { hostCaptureSpec, type HostModeOptions } from './capture-spec.js';
