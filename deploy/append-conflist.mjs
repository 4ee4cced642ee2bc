// Appends the meshnode-cni plugin to the node's primary CNI config (as istio-cni does): the
// lexicographically first *.conf / *.conflist in the CNI conf dir. A single-plugin .conf becomes a
// .conflist with the old plugin first. An existing meshnode-cni entry is replaced, so re-running
// after an upgrade is safe. The file is replaced atomically (write to a temp file, rename), and
// only when it changes: the install step re-runs this every few seconds to repair the entry after
// the primary CNI rewrote the file. With --remove the entry is taken out again (uninstall).
//
// usage: node append-conflist.mjs CONF_DIR PLUGIN_JSON
//        node append-conflist.mjs --remove CONF_DIR PLUGIN_TYPE
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const remove = args[0] === '--remove';
const [confDir, pluginArg] = remove ? args.slice(1) : args;
if (!confDir || !pluginArg) {
  process.stderr.write('usage: append-conflist.mjs CONF_DIR PLUGIN_JSON | --remove CONF_DIR PLUGIN_TYPE\n');
  process.exit(2);
}
const plugin = remove ? { type: pluginArg } : JSON.parse(pluginArg);
const candidates = readdirSync(confDir).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort();
if (candidates.length === 0 && remove) process.exit(0);
if (candidates.length === 0) {
  process.stderr.write(`no CNI config in ${confDir} yet: the node's network plugin must be installed first (this step is retried)\n`);
  process.exit(1);
}
const file = candidates[0];
const doc = JSON.parse(readFileSync(join(confDir, file), 'utf8'));
if (remove && !Array.isArray(doc.plugins)) process.exit(0);
let list;
let target = file;
if (Array.isArray(doc.plugins)) {
  list = doc;
} else {
  const { cniVersion, name, ...first } = doc;
  list = { cniVersion, name, plugins: [first] };
  target = file.replace(/\.(conf|json)$/, '.conflist');
}
const before = JSON.stringify(list.plugins);
list.plugins = list.plugins.filter((p) => p.type !== plugin.type).concat(remove ? [] : [plugin]);
if (JSON.stringify(list.plugins) === before && target === file) process.exit(0);
const tmp = join(confDir, `.${target}.meshnode-tmp`);
writeFileSync(tmp, JSON.stringify(list, null, 2) + '\n');
renameSync(tmp, join(confDir, target));
if (target !== file) unlinkSync(join(confDir, file));
process.stdout.write(remove
  ? `${plugin.type} removed from ${join(confDir, target)}\n`
  : `${plugin.type} appended to ${join(confDir, target)} (cniVersion ${list.cniVersion}, ${list.plugins.length} plugins)\n`);
