#!/usr/bin/env bash
# Builds the router VM: an x86-64 image for qemu-system-x86_64 (TCG is enough)
# that stands for a CPE in the lab. Prints the image directory on stdout
# (progress on stderr): vmlinuz, initramfs.cpio.gz, manifest.json.
#
#   build/router-vm.sh                 kernel + BusyBox + the router's tools + musl qjs,
#                                      BusyBox init (what CI can build)
#   MNAT_OPENWRT_SRC=DIR build/router-vm.sh
#                                      the same with OpenWrt's own userspace built from the
#                                      checkouts in DIR (build/router-vm/openwrt.sh): procd as
#                                      PID 1 with ubusd, uci, jsonfilter, opkg and apk
#   MNAT_QJS_SRC=DIR                   a bellard/quickjs checkout: the VM's qjs is built from
#                                      its commit MNAT_QJS_REV (default fa628f8, the 2025-09-13
#                                      release OpenWrt 25.12 ships); without it, QuickJS
#                                      2021-03-27 from npm (the only one CI can fetch)
#
# What goes in:
# - the kernel of Debian 12's linux-image-amd64 (6.1), taken with `apt-get download` and
#   `dpkg-deb -x` into .cache/router-vm/kernel (never installed on the host), and the few
#   modules the VM needs (virtio, bridge, clsact, cls_bpf) with their dependencies;
# - BusyBox as /bin/sh and the small tools, OpenWrt's shell being BusyBox ash: Debian's
#   `busybox` package, also taken with apt-get download. Not busybox-static: that one's shell
#   runs its own applets before PATH, so `ip` and `tc` in a script would be BusyBox's, not
#   iproute2 as on a router;
# - the router's tools copied from this host with the shared libraries they need: ip, tc,
#   bridge (iproute2), bpftool, curl (HTTP/2 through nghttp2), smcrouted/smcroutectl, stdbuf,
#   flock, md5sum;
# - qjs built against musl by build/qjs.sh, with musl's loader;
# - image glue from build/router-vm/files (boot steps, smcroute service, the test's control
#   channel); the package itself is installed at run time by the tests, with the package
#   manager.
# Nothing here is copied into the repository; the cache is .cache/router-vm (MNAT_VM_CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${MNAT_VM_CACHE:-$repo/.cache/router-vm}
files=$repo/build/router-vm/files
mkdir -p "$cache"

say() { echo "router-vm: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in qemu-system-x86_64 ip tc bridge bpftool curl smcrouted smcroutectl stdbuf flock objcopy; do
  command -v "$tool" >/dev/null || die "$tool is missing: run build/setup-debian.sh (it installs qemu-system-x86 and the router's tools)"
done

# Fetches Debian package $1 (current candidate) with apt-get download and unpacks it into $2.
fetch_deb() {
  local pkg=$1 dest=$2 version tmp
  version=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
  [ -n "$version" ] && [ "$version" != "(none)" ] || die "apt has no candidate for $pkg (apt-get update?)"
  tmp=$(mktemp -d /tmp/mnat-vm-deb.XXXXXX)
  chmod 0755 "$tmp"
  say "fetching $pkg $version with apt-get download (not installed on this host)"
  (cd "$tmp" && apt-get download "$pkg=$version" >/dev/null 2>"$tmp/download.log") ||
    { tail -n 3 "$tmp/download.log" >&2; rm -rf "$tmp"; die "apt-get download $pkg failed"; }
  mkdir -p "$dest"
  dpkg-deb -x "$tmp"/*.deb "$dest"
  echo "$version" >"$dest/.version"
  rm -rf "$tmp"
}

# --- the kernel ---------------------------------------------------------------------------
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
pkg=$(kernel_pkg)
if [ -z "$pkg" ]; then
  say "apt knows no linux-image-amd64 yet: apt-get update"
  apt-get update -qq
  pkg=$(kernel_pkg)
fi
[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (apt-cache depends linux-image-amd64)"
pkg_version=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
kdir=$cache/kernel/${pkg}_$pkg_version
# The modules the VM loads, in the order given (dependencies are added before each).
modules=(virtio_pci virtio_net virtio_console virtio_rng bridge sch_ingress cls_bpf)
if [ ! -f "$kdir/.done" ]; then
  tmp=$(mktemp -d /tmp/mnat-vm-kernel.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  fetch_deb "$pkg" "$tmp/x"
  release=$(ls "$tmp/x/lib/modules")
  rm -rf "$kdir"
  mkdir -p "$kdir/modules"
  cp "$tmp/x/boot/vmlinuz-$release" "$kdir/vmlinuz"
  cp "$tmp/x/boot/config-$release" "$kdir/config"
  echo "$release" >"$kdir/release"
  mods=$tmp/x/lib/modules/$release
  # depends= from each module's .modinfo section (there is no modules.dep before depmod runs).
  ko_path() { find "$mods/kernel" -name "$1.ko" | head -n1; }
  ko_deps() { objcopy -O binary -j .modinfo "$1" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '; }
  declare -A seen=()
  order=()
  add_module() {
    local name=${1//-/_} path dep
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    path=$(ko_path "$name")
    [ -n "$path" ] || path=$(ko_path "${1//_/-}")
    [ -n "$path" ] || die "kernel module $1 is not in $pkg (built in? check $kdir/config)"
    for dep in $(ko_deps "$path"); do add_module "$dep"; done
    order+=("${path#"$mods/"}")
  }
  for m in "${modules[@]}"; do add_module "$m"; done
  for ko in "${order[@]}"; do install -D -m 0644 "$mods/$ko" "$kdir/modules/$ko"; done
  printf '%s\n' "${order[@]}" >"$kdir/modules.load"
  rm -rf "$tmp"
  trap - EXIT
  touch "$kdir/.done"
fi
release=$(cat "$kdir/release")

# --- BusyBox ---------------------------------------------------------------------------------
if [ -z "$(ls "$cache"/busybox/*/bin/busybox 2>/dev/null)" ]; then
  rm -rf "$cache/busybox"
  fetch_deb busybox "$cache/busybox/x"
  mv "$cache/busybox/x" "$cache/busybox/$(cat "$cache/busybox/x/.version")"
fi
busybox_bin=$(ls "$cache"/busybox/*/bin/busybox | head -n1)

# --- qjs against musl -----------------------------------------------------------------------
if [ -n "${MNAT_QJS_SRC:-}" ]; then
  qjs=$(build/qjs.sh --source "$MNAT_QJS_SRC" --rev "${MNAT_QJS_REV:-fa628f8}" --libc musl)
else
  qjs=$(build/qjs.sh --libc musl)
fi
qjs_version=$({ "$qjs" -h 2>&1 || true; } | sed -n 's/^QuickJS version \([^ ]*\).*/\1/p' | head -n1)
[ -n "$qjs_version" ] || die "$qjs -h does not say its version"
musl_loader=$(readelf -l "$qjs" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ "$musl_loader" = /lib/ld-musl-x86_64.so.1 ] || die "$qjs is not linked against musl (interpreter: ${musl_loader:-none})"

# --- OpenWrt's userspace, when its sources are at hand -------------------------------------
variant=busybox
if [ -n "${MNAT_OPENWRT_SRC:-}" ]; then
  build/router-vm/openwrt.sh "$MNAT_OPENWRT_SRC" "$cache/openwrt"
  variant=openwrt
fi
ow=$cache/openwrt

# --- the root filesystem ---------------------------------------------------------------------
out=$cache/image-$variant
rootfs=$out/rootfs
rm -rf "$out"
mkdir -p "$rootfs"
cd "$rootfs"
mkdir -p bin sbin usr/bin usr/sbin usr/lib lib etc/config etc/init.d etc/rc.d etc/uci-defaults \
  proc sys dev tmp root overlay "lib/modules/$release"
chmod 1777 tmp
# As on OpenWrt: /var is /tmp (a tmpfs under procd), /var/run is /tmp/run; Debian's
# binaries (smcrouted) use /run, so that points there too.
ln -s tmp var
ln -s var/run run

# Copies a host file to the same path in the image, with every shared library it loads.
copy_with_libs() {
  local file=$1 dest=${2:-$1} lib
  install -D -m 0755 "$file" ".$dest"
  for lib in $(ldd "$file" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
    case "$lib" in "$ow"/*) continue ;; esac # OpenWrt's libraries: copied to /usr/lib
    [ -e ".$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" ".$lib"
  done
}

copy_with_libs "$busybox_bin" /bin/busybox
for applet in $("$busybox_bin" --list); do
  case "$applet" in
    busybox|init|ip|tc|ipneigh|flock) continue ;; # init: below; the real iproute2 and util-linux tools too
    halt|poweroff|reboot|syslogd|klogd|logread|insmod|rmmod|lsmod|modprobe|sysctl|mdev|start-stop-daemon|ifconfig|route|udhcpc|hwclock|switch_root)
      [ -e "sbin/$applet" ] || ln -s ../bin/busybox "sbin/$applet" ;;
    *) [ -e "bin/$applet" ] || ln -s busybox "bin/$applet" ;;
  esac
done
copy_with_libs "$(readlink -f "$(command -v ip)")" /sbin/ip
copy_with_libs "$(command -v tc)" /sbin/tc
copy_with_libs "$(command -v bridge)" /sbin/bridge
copy_with_libs "$(command -v bpftool)" /usr/sbin/bpftool
copy_with_libs "$(command -v curl)" /usr/bin/curl
copy_with_libs "$(command -v smcrouted)" /usr/sbin/smcrouted
copy_with_libs "$(command -v smcroutectl)" /usr/sbin/smcroutectl
copy_with_libs "$(command -v stdbuf)" /usr/bin/stdbuf
copy_with_libs /usr/libexec/coreutils/libstdbuf.so
copy_with_libs "$(command -v flock)" /usr/bin/flock
rm -f bin/md5sum
copy_with_libs "$(command -v md5sum)" /usr/bin/md5sum
# The musl qjs and musl's loader (which is its libc).
install -D -m 0755 "$qjs" usr/bin/qjs
install -D -m 0755 "$(readlink -f /lib/ld-musl-x86_64.so.1)" lib/ld-musl-x86_64.so.1

# Kernel modules and the order the boot script loads them in.
cp -a "$kdir/modules/." "lib/modules/$release/"
cp "$kdir/modules.load" lib/modules/mnat-vm.load

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/ash
EOF
echo 'root:x:0:' >etc/group
echo 'mnat-router' >etc/hostname
cp -a "$files/common/." .

packages=none
if [ "$variant" = openwrt ]; then
  init=procd
  # procd's init is PID 1; it runs /etc/preinit, then execs procd, which starts ubusd
  # and runs /etc/rc.d/S* (procd's rcS) with "boot".
  for b in init procd ubusd udevtrigger askfirst; do copy_with_libs "$ow/usr/sbin/$b" "/sbin/$b"; done
  for f in "$ow"/usr/lib/lib*.so*; do [ -e "usr/lib/${f##*/}" ] || cp -a "$f" usr/lib/; done
  LD_LIBRARY_PATH=$ow/usr/lib copy_with_libs "$ow/usr/bin/ubus" /bin/ubus
  LD_LIBRARY_PATH=$ow/usr/lib copy_with_libs "$ow/usr/bin/uci" /sbin/uci
  LD_LIBRARY_PATH=$ow/usr/lib copy_with_libs "$ow/usr/bin/jsonpath" /usr/bin/jsonfilter
  LD_LIBRARY_PATH=$ow/usr/lib copy_with_libs "$ow/usr/bin/jshn" /usr/bin/jshn
  LD_LIBRARY_PATH=$ow/usr/lib copy_with_libs "$ow/usr/bin/opkg-cl" /bin/opkg
  LD_LIBRARY_PATH=$ow/usr/lib copy_with_libs "$ow/usr/bin/apk" /usr/bin/apk
  install -D -m 0644 "$ow/usr/share/libubox/jshn.sh" usr/share/libubox/jshn.sh
  cp -a "$ow/lib/." lib/
  cp -a "$ow/etc/." etc/
  install -D -m 0755 "$ow/sbin/reload_config" sbin/reload_config
  cp -a "$files/procd/." .
  for s in smcroute mnat-vm-ctl; do
    start=$(sed -n 's/^START=//p' "etc/init.d/$s")
    ln -s "../init.d/$s" "etc/rc.d/S$start$s"
  done
  ln -s ../init.d/mnat-vm-boot etc/rc.d/S10mnat-vm-boot
  # opkg: one destination (/), the lists under /usr/lib/opkg, and the packages the image
  # already carries registered as installed, as OpenWrt's image builder leaves them, so
  # that a package depending on them installs. Versions are those of the Debian packages
  # the tools were copied from.
  mkdir -p usr/lib/opkg/info usr/lib/opkg/lists
  cat >etc/opkg.conf <<'EOF'
dest root /
lists_dir ext /usr/lib/opkg/lists
option overlay_root /overlay
option check_signature 0
arch all 1
arch noarch 1
arch x86_64 10
EOF
  deb_version() { dpkg-query -W -f='${Version}' "$1" | sed 's/^[0-9]*://; s/+.*//; s/~.*//'; }
  base_packages=(
    "libc=$(deb_version libc6)"
    "quickjs=$qjs_version"
    "tc-bpf=$(deb_version iproute2)"
    "ip-bridge=$(deb_version iproute2)"
    "bpftool-minimal=$(deb_version bpftool)"
    "curl=$(deb_version curl)"
    "smcroute=$(deb_version smcroute)"
    "coreutils-stdbuf=$(deb_version coreutils)"
    "kmod-sched-bpf=${release%%-*}"
    "busybox=$(basename "$(dirname "$(dirname "$busybox_bin")")" | sed 's/^[0-9]*://; s/[+~].*//')"
  )
  for p in "${base_packages[@]}"; do
    printf 'Package: %s\nVersion: %s\nStatus: install user installed\nArchitecture: x86_64\nInstalled-Time: %s\n\n' \
      "${p%%=*}" "${p#*=}" "$(date +%s)" >>usr/lib/opkg/status
  done
  # apk (apk-tools v3, OpenWrt 25.12's package manager): a database that lists the same
  # base packages, made with apk itself (empty packages that only carry the name).
  apk_bin=$ow/usr/bin/apk
  apk_tmp=$(mktemp -d /tmp/mnat-vm-apk.XXXXXX)
  mkdir -p "$apk_tmp/empty" etc/apk lib/apk/packages
  echo x86_64 >etc/apk/arch
  for p in "${base_packages[@]}"; do
    v=$(echo "${p#*=}" | sed 's/[^0-9.].*//; s/\.$//')
    LD_LIBRARY_PATH=$ow/usr/lib "$apk_bin" mkpkg --info "name:${p%%=*}" --info "version:${v:-0}-r0" \
      --info "arch:x86_64" --info "description:${p%%=*} (in the router VM image)" \
      --files "$apk_tmp/empty" --output "$apk_tmp/${p%%=*}.apk" >/dev/null
  done
  LD_LIBRARY_PATH=$ow/usr/lib "$apk_bin" --root "$rootfs" --initdb --allow-untrusted --no-scripts \
    --no-network --force-no-chroot add "$apk_tmp"/*.apk >"$apk_tmp/log" 2>&1 ||
    die "apk could not register the base packages: $(tail -n 5 "$apk_tmp/log")"
  rm -rf "$apk_tmp"
  packages=opkg+apk
else
  init=busybox
  ln -s ../bin/busybox sbin/init
  cp -a "$files/busybox/." .
fi

cd "$out"
# Manifest: what the image is made of, for the tests' summary line.
{
  printf '{\n'
  printf '  "kernel": {"release": "%s", "package": "%s", "version": "%s"},\n' "$release" "$pkg" "$pkg_version"
  printf '  "init": "%s",\n  "packages": "%s",\n' "$init" "$packages"
  printf '  "qjs": {"version": "%s", "libc": "musl", "source": "%s"},\n' "$qjs_version" "${MNAT_QJS_SRC:-npm qjsc@0.3.0}"
  printf '  "busybox": "%s",\n' "$("$busybox_bin" 2>&1 | head -n1 | sed 's/ multi-call.*//')"
  if [ "$variant" = openwrt ]; then
    printf '  "openwrt": ['
    sed -n 's/^\([^ ]*=[0-9a-z]*\)$/"\1"/p' "$ow/SOURCES" | paste -sd, | tr -d '\n'
    printf '],\n'
  fi
  printf '  "built": "%s"\n}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >manifest.json
cp "$kdir/vmlinuz" vmlinuz
(cd "$rootfs" && find . -mindepth 1 | LC_ALL=C sort | "$busybox_bin" cpio -o -H newc 2>/dev/null) | gzip -1 >initramfs.cpio.gz
rm -rf "$rootfs"
say "built $variant image: kernel $release, qjs $qjs_version musl, $(du -k initramfs.cpio.gz | cut -f1) KiB initramfs"
echo "$out"
