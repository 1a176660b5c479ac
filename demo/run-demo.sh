#!/usr/bin/env bash
# The live lab demo in one command (as root): installs what is missing (apt
# packages, npm dependencies, the bundles, the BPF object and the test qjs via
# build/setup-debian.sh, which is idempotent), then runs demo/lab-demo.ts.
#   sudo npm run demo                 # until Ctrl-C
#   sudo npm run demo -- --duration 60
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "demo: the lab needs root (network namespaces, tc, BPF); run: sudo npm run demo" >&2
  exit 2
fi
need_setup=0
for f in node_modules/.bin/esbuild dist/mnat-server.js dist/mnat-ingress.js dist/mnat-egress.qjs.js dist/mnat-translator.bpf.o .cache/qjs/qjs; do
  [ -e "$f" ] || need_setup=1
done
for c in tcpdump curl openssl bpftool tc bridge; do
  command -v "$c" >/dev/null 2>&1 || need_setup=1
done
if [ "$need_setup" = 1 ]; then
  echo "demo: installing what the lab needs (build/setup-debian.sh)..." >&2
  bash build/setup-debian.sh >&2
else
  # About a second: the demo always runs what the sources say, never a stale bundle.
  npm run --silent build >/dev/null
fi
# The bpffs holds the translators' pins; mount it when this machine has not.
if ! mountpoint -q /sys/fs/bpf; then mount -t bpf bpf /sys/fs/bpf; fi
exec node --import ./build/ts-loader.mjs demo/lab-demo.ts "$@"
