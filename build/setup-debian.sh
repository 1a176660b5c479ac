#!/usr/bin/env bash
# Installs everything the build, the tests and the lab need on Debian (as root):
# apt packages, npm dependencies, the BPF object and the test qjs. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# dnsmasq-base: the dnsmasq binary without the system service (the lab starts its
# own, inside a namespace); busybox: its nslookup is the DNS-SD tool of the egress
# under qjs, as on OpenWrt. qemu-system-x86: the router VM (test/vm); its kernel and
# BusyBox are fetched with apt-get download by build/router-vm.sh, not installed here.
# faketime: steps one process's wall clock (test/server/clock-step.test.ts).
packages=(clang llvm bpftool libbpf-dev iproute2 smcroute iperf nghttp2-client
          mosquitto mosquitto-clients tcpdump curl openssl make gcc musl-tools ethtool
          dnsmasq-base busybox qemu-system-x86 util-linux binutils faketime)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# etcd for the region tests and benches (Debian's etcd-server, 3.4): they run
# their own members on loopback. The package's own system service is not
# started: a policy-rc.d refuses it during the install (and the unit is left
# disabled when this script installed the package); a system etcd that was
# there before is not touched.
if ! dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q 'install ok installed'; then
  echo "setup: installing etcd-server (binary only; its service is not started)"
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# mnat setup: no service starts during this install\nexit 101\n' > "$policy"
    chmod +x "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  [ ${#missing[@]} -gt 0 ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; trap - EXIT; fi
  if [ -d /run/systemd/system ]; then systemctl disable etcd.service >/dev/null 2>&1 || true; fi
fi

npm ci --no-audit --no-fund
./build/qjs.sh >/dev/null   # the test qjs (QuickJS 2021-03-27), cached in .cache/qjs
npm run build
