#!/bin/sh
# Builds the tiny test guest used by the qemu driver tests and the examples: a Debian cloud kernel and an initramfs
# holding busybox-static, the few kernel modules the guest needs (virtio disk and net, ACPI power button, evdev,
# pvpanic so qemu hears of a kernel panic) and
# `init` (simulations/guest/init.sh). Idempotent: the result is cached in the output directory and rebuilt only when
# a piece is missing or init.sh changed.
#
#   simulations/guest/build-guest.sh [OUTDIR]     (default .cache/guest)
#
# Output: OUTDIR/vmlinuz, OUTDIR/initrd.gz, OUTDIR/guest.json (versions, for the tests to print).
# Needs: apt-get (after `apt-get update`), dpkg-deb, cpio, gzip. Downloads only from the configured Debian archive.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-.cache/guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)
say () { printf 'build-guest: %s\n' "$*" >&2; }

stamp_wanted=$(cat "$here/init.sh" "$0" | cksum | cut -d' ' -f1)
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ "$(cat "$out/stamp" 2>/dev/null || true)" = "$stamp_wanted" ]; then
  say "cached in $out"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb cpio gzip find; do
  command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing (Debian/Ubuntu host with dpkg, cpio and gzip needed)"; exit 1; }
done

work="$out/work"
rm -rf "$work"
mkdir -p "$work/debs"

# The meta-package names the current kernel image package; fall back to the newest one apt knows.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
if [ -z "$kpkg" ]; then
  kpkg=$(apt-cache pkgnames linux-image- | grep -E '^linux-image-[0-9.]+-[0-9]+-cloud-amd64$' | sort -V | tail -n 1)
fi
[ -n "$kpkg" ] || { say "no linux-image-*-cloud-amd64 package known to apt (run apt-get update)"; exit 1; }

say "downloading $kpkg and busybox-static into $work/debs"
(cd "$work/debs" && apt-get download "$kpkg" busybox-static >/dev/null 2>"$work/apt.err") || {
  cat "$work/apt.err" >&2; exit 1; }

say "extracting packages"
dpkg-deb -x "$work"/debs/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/debs/busybox-static_*.deb "$work/busybox"
kver=$(ls "$work/kernel/lib/modules")
moddir="$work/kernel/lib/modules/$kver"

root="$work/root"
mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/mnt" "$root/tmp" \
  "$root/www" "$root/lib/modules" "$root/root" "$root/usr/bin" "$root/usr/sbin"
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
# Only the applets init uses are linked; `busybox --install` at boot would cost time under TCG.
for a in sh mount umount mkdir cat echo ls sleep ifconfig route ip hostname httpd insmod poweroff sync dd \
         mknod grep sed cut tr date uptime head tail kill ps; do
  ln -s busybox "$root/bin/$a"
done

# Kernel modules in dependency order: each module's `depends=` from its .modinfo section, depth first.
: > "$work/modorder"
add_module () {
  local name file deps d
  name=$1
  grep -qx "$name" "$work/modorder.names" 2>/dev/null && return 0
  file=$(find "$moddir/kernel" -name "$name.ko" -o -name "$(echo "$name" | tr _ -).ko" | head -n 1)
  [ -n "$file" ] || { say "module $name not found in $kpkg"; exit 1; }
  deps=$(grep -ao 'depends=[A-Za-z0-9_,-]*' "$file" | head -n 1 | cut -d= -f2 | tr , ' ')
  for d in $deps; do add_module "$d"; done
  echo "$name" >> "$work/modorder.names"
  cp "$file" "$root/lib/modules/$name.ko"
  echo "$name" >> "$work/modorder"
}
: > "$work/modorder.names"
for m in virtio_pci virtio_blk virtio_net button evdev pvpanic_mmio; do add_module "$m"; done
cp "$work/modorder" "$root/lib/modules/order"
say "modules: $(tr '\n' ' ' < "$work/modorder")"

cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"

say "packing initramfs"
# Same inputs, same bytes: fixed mtimes, sorted names, cpio --reproducible, no name/time in the gzip header.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible) | gzip -9n > "$out/initrd.gz.tmp"
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
bbver=$(dpkg-deb -f "$work"/debs/busybox-static_*.deb Version)
printf '{"kernelPackage":"%s","kernelVersion":"%s","busybox":"%s"}\n' "$kpkg" "$kver" "$bbver" > "$out/guest.json"
echo "$stamp_wanted" > "$out/stamp"
rm -rf "$work"
say "built $out/vmlinuz ($kver) and $out/initrd.gz ($(wc -c < "$out/initrd.gz") bytes)"
