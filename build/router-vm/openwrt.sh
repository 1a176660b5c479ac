#!/usr/bin/env bash
# Builds OpenWrt's own userspace for the router VM from source checkouts that
# live outside this repository (MNAT_OPENWRT_SRC: one checkout per repository,
# named as the repository; never copied into the repository):
#   libubox (libubox, libblobmsg_json, libjson_script, jshn, jshn.sh), ubus (ubusd, ubus),
#   uci (libuci, uci), ucode (for udebug's build), udebug (libudebug, procd needs it),
#   procd (init, procd, udevtrigger, askfirst), jsonpath (jsonfilter), opkg-lede (opkg),
#   and apk-tools v3 (apk), each at the commit pinned below, with cmake (meson for apk)
#   against Debian's -dev packages, glibc.
# The files of openwrt/openwrt the image needs (rc.common, functions.sh, service.sh,
# procd.sh, reload_config, inittab, hotplug.json, uci.sh) are expected under $MNAT_OPENWRT_SRC/openwrt/ at their
# repository paths; the stored versions used are listed in OPENWRT_FILES.
#
#   build/router-vm/openwrt.sh SRC_DIR STAGE_DIR    → STAGE_DIR/usr/… (DESTDIR install)
#
# Skipped when STAGE_DIR/.stamp matches the pinned commits and this script.
set -euo pipefail

src=${1:?usage: openwrt.sh SRC_DIR STAGE_DIR}
stage=${2:?usage: openwrt.sh SRC_DIR STAGE_DIR}
here=$(cd "$(dirname "$0")" && pwd)

# The commits the VM was built and tested with (their HEADs on 2026-08-18 or before).
PINNED=(
  libubox=1aa36ee774c8db4d7a396903e0d2e1fb79ee8bf1
  ubus=3cc98db1a422dcf560f2d6347fd410f17565a89d
  uci=66127cd76c5d0bd46d5a90302cc6110f53a4e2f8
  ucode=81205a25437a83e3b9e1eb55ac169be84453d53b
  udebug=875e1a7af6ca9d86524d18169c3a79f4a1920053
  procd=2c1834abae171261f2d9161e5a28c36cbcc394a4
  # not e5a07f4 (HEAD, "defer processing until options are processed"): there jsonfilter
  # never reads stdin, so `ubus call … | jsonfilter -e …` finds nothing
  jsonpath=afe72ad6414e0faedd3d780d9328e514b0083cae
  opkg-lede=38eccbb1fd694d4798ac1baf88f9ba83d1eac616
  apk-tools=90b974fd8510fbc2b3d6adde311ad1ba8754c728
)
# Files from openwrt/openwrt (read one by one; the commit of the stored version each came from).
OPENWRT_FILES=(
  package/base-files/files/etc/rc.common=0b1fa809d0e974398503a24e408c1209969711f7
  package/base-files/files/lib/functions.sh=01fa063ae9440273c6701708623a1928bb3ff657
  package/base-files/files/lib/functions/service.sh=9963ae1d1c331b0f5e8cf7c6762b3c9bd126037d
  package/system/procd/files/procd.sh=03eca6c5e85cad7ff20459d2f363c60c598d9825
  package/system/procd/files/reload_config=16e4dffba7bce79c22ed28be1bb8ff60c84390f2
  package/base-files/files/etc/inittab=5a351509aa3f12e18cea2ab312ff7466631c8488
  package/system/procd/files/hotplug.json=073aab6f316fe722376f1998b9bdfa5d4c9298ca
  # uci's shell API (uci_load, uci_get…); the stored copy came without its commit (search-index file 13348024233)
  package/system/uci/files/lib/config/uci.sh=unknown
)

for f in "${OPENWRT_FILES[@]}"; do
  [ -f "$src/openwrt/${f%%=*}" ] || {
    echo "openwrt: $src/openwrt/${f%%=*} is missing (a file of openwrt/openwrt at commit ${f#*=}; put it there at its repository path)" >&2
    exit 1
  }
done
for p in "${PINNED[@]}"; do
  repo=${p%%=*} commit=${p#*=}
  git -C "$src/$repo" cat-file -e "$commit^{commit}" 2>/dev/null || {
    echo "openwrt: $src/$repo has no commit $commit (pinned in $0); fetch it into that checkout" >&2
    exit 1
  }
done

# The shell libraries and config files of openwrt/openwrt and the checkouts, at the paths
# a router has them; installed on every run (cheap), the compiled part only when the stamp
# (pinned commits + this script's build steps) changes.
install_files() {
  local f path
  for f in "${OPENWRT_FILES[@]}"; do
    path=${f%%=*}
    case "$path" in
      */etc/rc.common) install -D -m 0755 "$src/openwrt/$path" "$stage/etc/rc.common" ;;
      */lib/functions.sh) install -D -m 0644 "$src/openwrt/$path" "$stage/lib/functions.sh" ;;
      */lib/functions/service.sh) install -D -m 0644 "$src/openwrt/$path" "$stage/lib/functions/service.sh" ;;
      */procd/files/procd.sh) install -D -m 0644 "$src/openwrt/$path" "$stage/lib/functions/procd.sh" ;;
      */procd/files/reload_config) install -D -m 0755 "$src/openwrt/$path" "$stage/sbin/reload_config" ;;
      */etc/inittab) install -D -m 0644 "$src/openwrt/$path" "$stage/etc/inittab" ;;
      */procd/files/hotplug.json) install -D -m 0644 "$src/openwrt/$path" "$stage/etc/hotplug.json" ;;
      */lib/config/uci.sh) install -D -m 0644 "$src/openwrt/$path" "$stage/lib/config/uci.sh" ;;
    esac
  done
  {
    printf 'openwrt-src %s\n' "$src"
    printf '%s\n' "${PINNED[@]}" "${OPENWRT_FILES[@]/#/openwrt\/}"
  } >"$stage/SOURCES"
}
commit_of() { local p; for p in "${PINNED[@]}"; do [ "${p%%=*}" = "$1" ] && echo "${p#*=}"; done; }

want="$(printf '%s\n' "${PINNED[@]}") $(sed -n '/^# --- build ---/,$p' "$0" | sha256sum | cut -d' ' -f1)"
if [ -f "$stage/.stamp" ] && [ "$(cat "$stage/.stamp")" = "$want" ]; then
  install_files
  exit 0
fi

# --- build --- (everything below is covered by the stamp)

# Build dependencies: Debian's -dev packages (only this variant needs them, so CI does not install them).
need=(cmake ninja-build pkg-config meson libjson-c-dev libbsd-dev libssl-dev zlib1g-dev libzstd-dev)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "openwrt: installing the build dependencies of OpenWrt's userspace: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/mnat-openwrt-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$stage"
mkdir -p "$stage"
log="$work/build.log"

# glibc 2.36 has no strlcpy (musl, OpenWrt's libc, has): declare it, libbsd provides it.
printf '#include <stddef.h>\nsize_t strlcpy(char *dst, const char *src, size_t size);\n' >"$work/strlcpy.h"

# Sources of the pinned commit, out of tree (some projects build in their source directory).
unpack() {
  mkdir -p "$work/src/$1"
  git -C "$src/$1" archive "$(commit_of "$1")" | tar -x -C "$work/src/$1"
}

failed() {
  echo "openwrt: building $1 failed; last lines of the log:" >&2
  tail -n 25 "$log" >&2
  exit 1
}

cmake_build() {
  local name=$1; shift
  echo "openwrt: building $name $(commit_of "$name" | cut -c1-12)" >&2
  unpack "$name"
  # jsonpath generates its parser with paths relative to the source directory: build in it.
  local dir="$work/build/$name"
  [ "$name" = jsonpath ] && dir="$work/src/$name"
  mkdir -p "$dir"
  {
    cmake -S "$work/src/$name" -B "$dir" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib \
      -DCMAKE_PREFIX_PATH="$stage/usr" \
      -DCMAKE_C_FLAGS="-I$stage/usr/include -include $work/strlcpy.h -Wno-error=format-overflow" \
      -DCMAKE_C_STANDARD_LIBRARIES=-lbsd \
      -DCMAKE_EXE_LINKER_FLAGS="-L$stage/usr/lib -Wl,-rpath-link,$stage/usr/lib" \
      -DCMAKE_SHARED_LINKER_FLAGS="-L$stage/usr/lib -Wl,-rpath-link,$stage/usr/lib" \
      -DCMAKE_MODULE_LINKER_FLAGS="-L$stage/usr/lib" \
      "$@" &&
      ninja -C "$dir" &&
      DESTDIR="$stage" ninja -C "$dir" install
  } >>"$log" 2>&1 || failed "$name"
}

cmake_build libubox -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
cmake_build ubus -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
cmake_build uci -DBUILD_LUA=OFF
cmake_build ucode -DUCI_SUPPORT=ON -DUBUS_SUPPORT=ON -DULOOP_SUPPORT=ON -DNL80211_SUPPORT=OFF -DRTNL_SUPPORT=OFF
cmake_build udebug
cmake_build procd
cmake_build jsonpath
cmake_build opkg-lede -DBUILD_TESTS=OFF -DVERSION="$(commit_of opkg-lede | cut -c1-7)"

echo "openwrt: building apk-tools $(commit_of apk-tools | cut -c1-12)" >&2
unpack apk-tools
# (get-version.sh reads the VERSION file when there is no .git.)
{
  (cd "$work/src/apk-tools" && meson setup "$work/build/apk-tools" \
    -Dprefix=/usr -Dlibdir=lib -Ddocs=disabled -Dhelp=disabled -Dlua=disabled -Dpython=disabled \
    -Dtests=disabled -Dzstd=enabled -Durl_backend=wget) &&
    ninja -C "$work/build/apk-tools" &&
    DESTDIR="$stage" ninja -C "$work/build/apk-tools" install
} >>"$log" 2>&1 || failed apk-tools

install_files
cp "$log" "$stage/build.log"
echo "$want" >"$stage/.stamp"
echo "openwrt: userspace staged in $stage" >&2
