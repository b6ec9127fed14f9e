#!/bin/sh
# PID 1 of the sdpeer test guest (busybox sh). Configures itself from the kernel command line:
#   sdpeer.hostname=NAME  sdpeer.ip=A.B.C.D  sdpeer.netmask=M  sdpeer.gateway=G
#   root=/dev/vdX | sdpeer.root=/dev/vdX   (default: /dev/vda when present) mounted on /mnt
#   sdpeer.write=/path:content             (repeatable; written under the mounted disk, for saveImage tests)
#   sdpeer.panic                           (crash the kernel after the ready line, for crash-detection tests)
# prints `SDPEER-GUEST-READY hostname=... ip=... disk=...` on the console, serves a status page on port 80 and
# powers off (after unmounting its disk) when the ACPI power button is pressed.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# The initramfs has no /dev/console node, so the kernel could not give us stdio: take the console now.
exec </dev/console >/dev/console 2>&1

hostname=guest ip=10.0.2.15 netmask=255.255.255.0 gateway=10.0.2.2 root= writes= panic=
for w in $(cat /proc/cmdline); do
  case "$w" in
    sdpeer.hostname=*) hostname=${w#*=} ;;
    sdpeer.ip=*) ip=${w#*=} ;;
    sdpeer.netmask=*) netmask=${w#*=} ;;
    sdpeer.gateway=*) gateway=${w#*=} ;;
    root=*|sdpeer.root=*) root=${w#*=} ;;
    sdpeer.write=*) writes="$writes ${w#*=}" ;;
    sdpeer.panic) panic=1 ;;
  esac
done

while read -r m; do insmod "/lib/modules/$m.ko" 2>/dev/null; done < /lib/modules/order
hostname "$hostname"

# Module probing is synchronous but the block device node may appear a moment later.
[ -n "$root" ] || root=/dev/vda
disk=none
i=0
while [ ! -b "$root" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b "$root" ]; then
  if mount -t ext4 "$root" /mnt 2>/dev/null || mount "$root" /mnt 2>/dev/null; then
    disk=$root
    for spec in $writes; do
      path=${spec%%:*}
      content=${spec#*:}
      mkdir -p "/mnt$(dirname "$path")"
      echo "$content" > "/mnt$path"
    done
    sync
  else
    echo "SDPEER-GUEST-DISK-ERROR cannot mount $root"
  fi
fi

ifconfig lo 127.0.0.1 up
if [ -e /sys/class/net/eth0 ]; then
  ifconfig eth0 "$ip" netmask "$netmask" up
  [ -n "$gateway" ] && route add default gw "$gateway" 2>/dev/null
fi

cat > /www/index.html <<PAGE
sdpeer-guest hostname=$hostname ip=$ip disk=$disk kernel=$(cat /proc/sys/kernel/osrelease)
PAGE
httpd -p 80 -h /www

power_off () {
  echo "SDPEER-GUEST-POWEROFF hostname=$hostname"
  kill "$(cat /proc/self/stat | cut -d' ' -f4)" 2>/dev/null
  sync
  [ "$disk" = none ] || umount /mnt
  poweroff -f
}

# Every input device called "Power Button" (ACPI fixed button and PNP0C0C); one event on any means power off.
for ev in /sys/class/input/event*; do
  [ -e "$ev/device/name" ] || continue
  if [ "$(cat "$ev/device/name")" = "Power Button" ]; then
    ( dd if="/dev/input/${ev##*/}" of=/dev/null bs=24 count=1 2>/dev/null; power_off ) &
  fi
done

echo "SDPEER-GUEST-READY hostname=$hostname ip=$ip disk=$disk"
if [ -n "$panic" ]; then
  echo "SDPEER-GUEST-PANIC hostname=$hostname"
  echo c > /proc/sysrq-trigger
fi
while :; do sleep 3600; done
