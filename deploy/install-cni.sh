#!/bin/sh
# Installs meshnode-cni on a Kubernetes node; run by the agent DaemonSet's init container.
#  1. Copies the plugin into the CNI bin dir as a self-contained bundle (Node binary, compiled
#     cni/ modules, package.json) plus a small meshnode-cni launcher, each replaced atomically.
#  2. Appends {"type": "meshnode-cni", ...} to the node's primary conflist (append-conflist.mjs).
# Environment (defaults match the DaemonSet's host mounts):
#   CNI_BIN_DIR   /host/opt/cni/bin      CNI_CONF_DIR  /host/etc/cni/net.d
#   MESHNODE_HOME /opt/meshnode          AGENT_SOCKET  /var/run/meshnode/cni.sock
#   CNI_LOG_FILE  /var/log/meshnode/cni.log   CNI_EXCLUDE_NAMESPACES  kube-system (comma-separated)
set -eu

CNI_BIN_DIR="${CNI_BIN_DIR:-/host/opt/cni/bin}"
CNI_CONF_DIR="${CNI_CONF_DIR:-/host/etc/cni/net.d}"
MESHNODE_HOME="${MESHNODE_HOME:-/opt/meshnode}"
AGENT_SOCKET="${AGENT_SOCKET:-/var/run/meshnode/cni.sock}"
CNI_LOG_FILE="${CNI_LOG_FILE:-/var/log/meshnode/cni.log}"
CNI_EXCLUDE_NAMESPACES="${CNI_EXCLUDE_NAMESPACES:-kube-system}"
NODE_BIN="${NODE_BIN:-$(command -v node)}"

bundle="$CNI_BIN_DIR/meshnode-cni.d"
staging="$CNI_BIN_DIR/.meshnode-cni.d.new"
rm -rf "$staging"
mkdir -p "$staging/dist/agent"
cp "$NODE_BIN" "$staging/node"
cp -R "$MESHNODE_HOME/dist/cni" "$staging/dist/cni"
# The plugin imports nothing of the agent but its base layer (the layering test holds it to that),
# so it starts fast and the bundle stays small.
for layer in base process telemetry; do cp -R "$MESHNODE_HOME/dist/agent/$layer" "$staging/dist/agent/$layer"; done
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
"$NODE_BIN" "$(dirname "$0")/append-conflist.mjs" "$CNI_CONF_DIR" "$plugin"
