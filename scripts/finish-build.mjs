// After tsc: make the two CLI entry points executable, so `npm ci` leaves runnable bins.
import { chmodSync, existsSync } from 'node:fs';
for (const bin of ['dist/agent/main.js', 'dist/cni/main.js']) {
  if (existsSync(bin)) chmodSync(bin, 0o755);
}
