#!/usr/bin/env bash
# Builds the test `qjs` (QuickJS 2021-03-27, the version OpenWrt ships) from the
# sources that the npm package qjsc@0.3.0 carries in deps/quickjs_2021_03_27.
# Cached in .cache/qjs/: skipped when the binary exists and was built from a
# tarball with the same sha256. Prints the binary's path on stdout (progress on
# stderr). Override the output directory with MNAT_QJS_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg="qjsc@0.3.0"
# sha256 of qjsc-0.3.0.tgz as the npm registry serves it (its sha1 is the
# registry's dist.shasum 70e57d876e9e0397217c26f3cb52ccb6dba3c2fd).
expected_sha256=4a9ed1852b334d842d5dac42d1782817ae26310b448de39532451fd45c9ba0ee
cache="${MNAT_QJS_CACHE:-$PWD/.cache/qjs}"
bin="$cache/qjs"
stamp="$cache/qjs.source-sha256"
mkdir -p "$cache"

tarball=$(ls "$cache"/qjsc-0.3.0.tgz 2>/dev/null || true)
if [ -z "$tarball" ]; then
  echo "qjs: fetching $pkg from the npm registry" >&2
  (cd "$cache" && npm pack "$pkg" --silent >/dev/null 2>&1) || {
    echo "qjs: 'npm pack $pkg' failed; check npm's registry access and retry" >&2
    exit 1
  }
  tarball="$cache/qjsc-0.3.0.tgz"
fi
hash=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$hash" != "$expected_sha256" ]; then
  rm -f "$tarball"
  echo "qjs: $pkg tarball has sha256 $hash, expected $expected_sha256 (partial download?); removed it, run again" >&2
  exit 1
fi

if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  echo "$bin"
  exit 0
fi

src="$cache/src"
rm -rf "$src"
mkdir -p "$src"
tar -xzf "$tarball" -C "$src" package/deps/quickjs_2021_03_27
dir="$src/package/deps/quickjs_2021_03_27"
[ -f "$dir/Makefile" ] || { echo "qjs: $tarball has no deps/quickjs_2021_03_27/Makefile" >&2; exit 1; }

echo "qjs: building QuickJS 2021-03-27 (no LTO) in $dir" >&2
# CONFIG_LTO= skips link-time optimisation (several times faster to build).
make -C "$dir" -j2 CONFIG_LTO= qjs >"$cache/build.log" 2>&1 || {
  echo "qjs: build failed; last lines of $cache/build.log:" >&2
  tail -n 20 "$cache/build.log" >&2
  exit 1
}
cp "$dir/qjs" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$hash" >"$stamp"
rm -rf "$src"
echo "$bin"
