#!/bin/sh
# Makes the base image that examples/qemu/twoGuests.sf overlays: a small raw ext4 file system (the tiny test guest
# mounts its root disk on /mnt, so any ext4 image will do) holding /etc/sdpeer-base, next to the guest's kernel and
# initramfs built by simulations/guest/build-guest.sh. Idempotent: an existing base.img is kept.
#
#   examples/qemu/make-base.sh [DIR]     (default .cache/guest; also builds the guest there when it is missing)
#
# Needs: mkfs.ext4 (e2fsprogs >= 1.43 for -d), truncate.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-.cache/guest}
"$here/../../simulations/guest/build-guest.sh" "$dir"
dir=$(cd "$dir" && pwd)
if [ -s "$dir/base.img" ]; then
  printf 'make-base: %s/base.img exists\n' "$dir" >&2
  exit 0
fi
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/etc"
echo "sdpeer example base image" > "$tree/etc/sdpeer-base"
truncate -s 32M "$dir/base.img.$$.tmp"
mkfs.ext4 -q -F -d "$tree" "$dir/base.img.$$.tmp"
mv "$dir/base.img.$$.tmp" "$dir/base.img"
printf 'make-base: built %s/base.img\n' "$dir" >&2
