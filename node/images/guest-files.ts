// Files the builder writes into every image so it boots under the qemu driver: PID 1 (or the hook a full init
// system runs first) reads the host name and address from the kernel command line, as the seeds' images took them
// from Xen. The keys are the ones the qemu driver passes (sdpeer.hostname, sdpeer.ip, sdpeer.netmask,
// sdpeer.gateway; see simulations/guest/init.sh). Values come from the guest's own /proc/cmdline at boot, never
// from the host side.

export const INIT_PATH = '/usr/local/sbin/sdpeer-init'

/** Ready line on the serial console; the same words as the test guest's, so the qemu driver's readiness check fits. */
export const READY_WORD = 'SDPEER-GUEST-READY'

export const INIT_SCRIPT = `#!/bin/sh
# sdpeer image init: boot with init=${INIT_PATH} (or run by the test guest's initramfs after switch_root).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ "$$" = 1 ]; then
  mount -t proc proc /proc 2>/dev/null
  mount -t sysfs sys /sys 2>/dev/null
  mount -t devtmpfs dev /dev 2>/dev/null
  mkdir -p /dev/pts /run /tmp && mount -t devpts devpts /dev/pts 2>/dev/null
  mount -t tmpfs tmpfs /run 2>/dev/null
  mount -o remount,rw / 2>/dev/null
  exec </dev/console >/dev/console 2>&1
fi
hostname=localhost ip= netmask=255.255.255.0 gateway=
for w in $(cat /proc/cmdline); do
  case "$w" in
    sdpeer.hostname=*) hostname=\${w#*=} ;;
    sdpeer.ip=*) ip=\${w#*=} ;;
    sdpeer.netmask=*) netmask=\${w#*=} ;;
    sdpeer.gateway=*) gateway=\${w#*=} ;;
  esac
done
echo "$hostname" > /etc/hostname
hostname "$hostname" 2>/dev/null || echo "$hostname" > /proc/sys/kernel/hostname
if command -v ip >/dev/null 2>&1; then
  ip link set lo up
  if [ -n "$ip" ] && [ -e /sys/class/net/eth0 ]; then
    ip addr add "$ip/$netmask" dev eth0 2>/dev/null
    ip link set eth0 up
    [ -n "$gateway" ] && ip route add default via "$gateway" 2>/dev/null
  fi
fi
echo "${READY_WORD} hostname=$hostname ip=$ip disk=/ image=sdpeer"
if [ "$$" = 1 ]; then
  # A full init system in the image (systemd-sysv in --packages) takes over; minbase has none, so keep a login
  # prompt on the serial console and stay PID 1.
  [ -x /lib/systemd/systemd ] && exec /lib/systemd/systemd
  while :; do
    if [ -x /sbin/agetty ]; then /sbin/agetty -L ttyS0 115200 vt100; else sleep 3600; fi
  done
fi
`

export const FSTAB = `# sdpeer image: the root disk is the first virtio disk
/dev/vda / ext4 errors=remount-ro 0 1
proc /proc proc defaults 0 0
`
