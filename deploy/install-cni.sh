#!/bin/sh
# Installs meshnode-cni on a Kubernetes node; run by the agent DaemonSet's init container.
#  1. Copies the plugin into the CNI bin dir as a self-contained bundle (Node binary, the plugin's
#     one bundled file, package.json) plus a small meshnode-cni launcher, each replaced atomically.
#  2. Appends {"type": "meshnode-cni", ...} to the node's primary conflist (append-conflist.mjs).
#  With --watch (the DaemonSet's install-cni container) it then keeps running:
#  3. Every CNI_REPAIR_INTERVAL seconds it puts the entry back if the primary CNI rewrote the file.
#  4. On SIGTERM it removes the entry (uninstall) unless another install-cni of this node still runs
#     (a rolling update starts the new one first): each holds a shared flock on INSTALL_LOCK, and
#     only the one that then gets it exclusively is the last.
# Environment (defaults match the DaemonSet's host mounts):
#   CNI_BIN_DIR   /host/opt/cni/bin      CNI_CONF_DIR  /host/etc/cni/net.d
#   MESHNODE_HOME /opt/meshnode          AGENT_SOCKET  /var/run/meshnode/cni.sock
#   CNI_LOG_FILE  /var/log/meshnode/cni.log   CNI_EXCLUDE_NAMESPACES  kube-system (comma-separated)
#   CNI_REPAIR_INTERVAL  5                    INSTALL_LOCK  <socket dir>/cni-install.lock
set -eu

CNI_BIN_DIR="${CNI_BIN_DIR:-/host/opt/cni/bin}"
CNI_CONF_DIR="${CNI_CONF_DIR:-/host/etc/cni/net.d}"
MESHNODE_HOME="${MESHNODE_HOME:-/opt/meshnode}"
AGENT_SOCKET="${AGENT_SOCKET:-/var/run/meshnode/cni.sock}"
CNI_LOG_FILE="${CNI_LOG_FILE:-/var/log/meshnode/cni.log}"
CNI_EXCLUDE_NAMESPACES="${CNI_EXCLUDE_NAMESPACES:-kube-system}"
NODE_BIN="${NODE_BIN:-$(command -v node)}"
CNI_REPAIR_INTERVAL="${CNI_REPAIR_INTERVAL:-5}"
INSTALL_LOCK="${INSTALL_LOCK:-$(dirname "$AGENT_SOCKET")/cni-install.lock}"
watch=false
[ "${1:-}" = "--watch" ] && watch=true

bundle="$CNI_BIN_DIR/meshnode-cni.d"
staging="$CNI_BIN_DIR/.meshnode-cni.d.new"
rm -rf "$staging"
mkdir -p "$staging/dist/cni"
cp "$NODE_BIN" "$staging/node"
# The build bundles the plugin into one file that imports no package (it shares only the agent's
# base layer, which the layering test holds it to), so it starts fast and the bundle stays small.
cp "$MESHNODE_HOME/dist/cni/main.js" "$staging/dist/cni/main.js"
printf '{"type":"module"}\n' > "$staging/package.json"
rm -rf "$bundle.old"
[ -d "$bundle" ] && mv "$bundle" "$bundle.old"
mv "$staging" "$bundle"
rm -rf "$bundle.old"

launcher="$CNI_BIN_DIR/.meshnode-cni.new"
cat > "$launcher" <<'LAUNCHER'
#!/bin/sh
here=$(dirname "$0")
exec "$here/meshnode-cni.d/node" "$here/meshnode-cni.d/dist/cni/main.js" "$@"
LAUNCHER
chmod 0755 "$launcher"
mv "$launcher" "$CNI_BIN_DIR/meshnode-cni"

excludes=$(printf '%s' "$CNI_EXCLUDE_NAMESPACES" | awk -F, '{for(i=1;i<=NF;i++) printf "%s\"%s\"", (i>1?",":""), $i}')
plugin="{\"type\":\"meshnode-cni\",\"agentSocket\":\"$AGENT_SOCKET\",\"logFile\":\"$CNI_LOG_FILE\",\"excludeNamespaces\":[$excludes]}"
append="$(dirname "$0")/append-conflist.mjs"
if ! $watch; then
  "$NODE_BIN" "$append" "$CNI_CONF_DIR" "$plugin"
  exit 0
fi

mkdir -p "$(dirname "$INSTALL_LOCK")"
exec 9>>"$INSTALL_LOCK"
flock -s 9
echo "install-cni: watching $CNI_CONF_DIR every ${CNI_REPAIR_INTERVAL}s"
uninstall() {
  # Converting to exclusive fails while another install-cni holds its shared lock.
  if flock -x -n 9; then
    "$NODE_BIN" "$append" --remove "$CNI_CONF_DIR" meshnode-cni 9>&-
  else
    echo "another install-cni runs on this node; the meshnode-cni entry stays"
  fi
  exit 0
}
trap uninstall TERM INT
while :; do
  # A file the primary CNI is halfway through writing fails to parse: the next round repairs it.
  # Children get no copy of the lock's descriptor: one outliving this shell would keep it held.
  "$NODE_BIN" "$append" "$CNI_CONF_DIR" "$plugin" 9>&- || echo "install-cni: repair failed; retrying in ${CNI_REPAIR_INTERVAL}s" >&2
  sleep "$CNI_REPAIR_INTERVAL" 9>&- &
  wait $! || true
done
