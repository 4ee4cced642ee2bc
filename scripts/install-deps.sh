#!/usr/bin/env bash
# Installs the Debian packages meshnode and its tests use (run as root on Debian 12).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  iproute2 iptables openssl ca-certificates containernetworking-plugins stunnel4 tcpdump \
  prometheus procps psmisc curl util-linux libcap2-bin systemd python3
