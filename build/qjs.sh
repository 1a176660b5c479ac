#!/usr/bin/env bash
# Builds a `qjs` for the tests and prints its path on stdout (progress on stderr).
#
#   build/qjs.sh                         QuickJS 2021-03-27 against glibc: CI's test qjs,
#                                        .cache/qjs/qjs
#   build/qjs.sh --libc musl             the same sources against musl (musl-gcc, from
#                                        Debian's musl-tools), the router's libc
#   build/qjs.sh --source DIR [--rev REV] [--libc glibc|musl] [--static]
#                                        a QuickJS source tree (e.g. a bellard/quickjs
#                                        checkout; REV is a git revision in it, default
#                                        its HEAD), built out of tree in a temporary copy
#
# Default sources: 2021-03-27 from the npm package qjsc@0.3.0 (deps/quickjs_2021_03_27),
# the only release CI can fetch (from the npm registry). Routers do not run it: OpenWrt's
# packages feed carries `quickjs` only from the 25.12 branch on (QuickJS 2025-09-13;
# master has a 2026 snapshot), built against musl. Build those with --source and
# --libc musl and select one for the suites with MNAT_QJS=<path>.
#
# Cached under .cache/qjs (override with MNAT_QJS_CACHE): the default glibc build is
# .cache/qjs/qjs; every other build is .cache/qjs/<version>[-<rev>]-<libc>[-static]/qjs,
# where a commit that is not a release is named snapshot-<commit date>-<rev>.
# A build is skipped when its stamp (source hash + options) matches.
# Without --static a musl qjs is linked dynamically, as on the router; it runs here
# through /lib/ld-musl-x86_64.so.1 (package musl). Link-time optimisation is off
# (several times faster to build; the engine is the same).
set -euo pipefail
cd "$(dirname "$0")/.."

source_dir="" rev="" libc=glibc static=""
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir=${2:?--source needs a directory}; shift 2 ;;
    --rev) rev=${2:?--rev needs a git revision}; shift 2 ;;
    --libc) libc=${2:?--libc needs glibc or musl}; shift 2 ;;
    --static) static=1; shift ;;
    -h|--help) awk 'NR > 2 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "qjs: unknown argument '$1' (see build/qjs.sh --help)" >&2; exit 2 ;;
  esac
done
case "$libc" in
  glibc) cc=gcc ;;
  musl) cc=musl-gcc
    command -v musl-gcc >/dev/null || { echo "qjs: --libc musl needs musl-gcc: apt-get install musl-tools" >&2; exit 1; } ;;
  *) echo "qjs: --libc must be glibc or musl, not '$libc'" >&2; exit 2 ;;
esac
[ -n "$rev" ] && [ -z "$source_dir" ] && { echo "qjs: --rev needs --source" >&2; exit 2; }

cache="${MNAT_QJS_CACHE:-$PWD/.cache/qjs}"
mkdir -p "$cache"
work=$(mktemp -d /tmp/mnat-qjs-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/src"

if [ -z "$source_dir" ]; then
  pkg="qjsc@0.3.0"
  # sha256 of qjsc-0.3.0.tgz as the npm registry serves it (its sha1 is the
  # registry's dist.shasum 70e57d876e9e0397217c26f3cb52ccb6dba3c2fd).
  expected_sha256=4a9ed1852b334d842d5dac42d1782817ae26310b448de39532451fd45c9ba0ee
  tarball="$cache/qjsc-0.3.0.tgz"
  if [ ! -f "$tarball" ]; then
    echo "qjs: fetching $pkg from the npm registry" >&2
    (cd "$cache" && npm pack "$pkg" --silent >/dev/null 2>&1) || {
      echo "qjs: 'npm pack $pkg' failed; check npm's registry access and retry" >&2
      exit 1
    }
  fi
  hash=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [ "$hash" != "$expected_sha256" ]; then
    rm -f "$tarball"
    echo "qjs: $pkg tarball has sha256 $hash, expected $expected_sha256 (partial download?); removed it, run again" >&2
    exit 1
  fi
  version=2021-03-27 key="$hash"
  if [ "$libc" = glibc ] && [ -z "$static" ]; then out="$cache"; else out="$cache/$version-$libc${static:+-static}"; fi
  describe="QuickJS $version (npm $pkg)"
  unpack() {
    mkdir -p "$work/pkg"
    tar -xzf "$tarball" -C "$work/pkg" package/deps/quickjs_2021_03_27
    mv "$work/pkg/package/deps/quickjs_2021_03_27" "$src"
  }
else
  [ -d "$source_dir" ] || { echo "qjs: --source $source_dir is not a directory" >&2; exit 2; }
  [ -f "$source_dir/quickjs.c" ] || { echo "qjs: $source_dir has no quickjs.c: not a QuickJS source tree" >&2; exit 2; }
  if git -C "$source_dir" rev-parse --git-dir >/dev/null 2>&1; then
    commit=$(git -C "$source_dir" rev-parse --verify "${rev:-HEAD}^{commit}") || {
      echo "qjs: no revision '${rev:-HEAD}' in $source_dir" >&2; exit 2; }
    version=$(git -C "$source_dir" show "$commit:VERSION")
    key="git $commit" label="$version-${commit:0:7}"
    # A commit after a release still says that release in VERSION: name it by its date.
    [ "$(git -C "$source_dir" log -1 --format=%H "$commit" -- VERSION)" = "$commit" ] ||
      label="snapshot-$(git -C "$source_dir" log -1 --date=short --format=%cd "$commit")-${commit:0:7}"
    [ -z "$rev" ] && [ -n "$(git -C "$source_dir" status --porcelain --untracked-files=no)" ] &&
      echo "qjs: $source_dir has uncommitted changes; building its HEAD commit ${commit:0:7} without them" >&2
    unpack() { mkdir -p "$src"; git -C "$source_dir" archive "$commit" | tar -x -C "$src"; }
  else
    [ -z "$rev" ] || { echo "qjs: --rev needs a git checkout, $source_dir is not one" >&2; exit 2; }
    version=$(cat "$source_dir/VERSION")
    key="tree $(cd "$source_dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
    label="$version-${key:5:7}"
    unpack() { cp -a "$source_dir" "$src"; }
  fi
  out="$cache/$label-$libc${static:+-static}"
  describe="QuickJS $label ($source_dir)"
fi

bin="$out/qjs"
stamp="$out/qjs.source-sha256"
want="$key $libc${static:+ static}"
# The default build's stamp predates the libc field: a bare tarball hash means glibc.
if [ -x "$bin" ] && [ -f "$stamp" ] && { [ "$(cat "$stamp")" = "$want" ] ||
     { [ "$out" = "$cache" ] && [ "$(cat "$stamp")" = "$key" ]; }; }; then
  echo "$bin"
  exit 0
fi

unpack
[ -f "$src/Makefile" ] || { echo "qjs: the sources have no Makefile" >&2; exit 1; }
mkdir -p "$out"
echo "qjs: building $describe against $libc${static:+ (static)} in $src" >&2
# CC on the command line overrides the Makefile's gcc for qjsc (which compiles repl.js
# during the build, so it must run here) and qjs alike. Both Makefile generations end
# every link line with $(EXTRA_LIBS), the one place -static reaches.
make -C "$src" -j2 CONFIG_LTO= CC="$cc" EXTRA_LIBS="${static:+-static}" qjs >"$out/build.log" 2>&1 || {
  echo "qjs: build failed; last lines of $out/build.log:" >&2
  tail -n 20 "$out/build.log" >&2
  exit 1
}
cp "$src/qjs" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$want" >"$stamp"
echo "$bin"
