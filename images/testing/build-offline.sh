#!/bin/sh
# Builds the small images the test suite runs learners' containers from, without a registry:
# a busybox root filesystem made from Debian's busybox-static package, imported as
# `busybox:latest` (an official image name, so the default pull list allows it).
#
# In production learners pull the real images; here nothing can be pulled.
#
# Usage: sudo images/testing/build-offline.sh
set -eu

tag="${1:-busybox:latest}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
apt-get download busybox-static >/dev/null 2>&1
dpkg-deb -x busybox-static_*.deb pkg
mkdir -p root/bin root/sbin root/usr/bin root/usr/sbin root/tmp root/etc root/root root/var/www root/home
for applet in $(pkg/bin/busybox --list-full); do
    ln -sf /bin/busybox "root/$applet"
done
rm -f root/bin/busybox
cp pkg/bin/busybox root/bin/busybox
chmod 1777 root/tmp
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\n' > root/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\nwww-data:x:33:\n' > root/etc/group
printf 'hosts: files dns\n' > root/etc/nsswitch.conf
tar -C root -cf rootfs.tar .
docker import \
    --change 'CMD ["sh"]' \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    rootfs.tar "$tag" >/dev/null
echo "built $tag"
