#!/bin/sh
# Builds the small images the test suite runs learners' containers from, without a registry:
# a busybox root filesystem made from Debian's busybox-static package, imported as
# `busybox:latest` (an official image name, so the default pull list allows it); then, FROM that
# busybox and with no network, stand-ins for the other images lessons use, built from
# images/testing/standins/<name>/Dockerfile: ubuntu:22.04 (also :latest), redis:7, mysql:8.0,
# mysql:8.4, wordpress:6 (also :latest), nginx:1.27 and nginx:1.26. Each is a few shell scripts
# around busybox (sh, nc, httpd) that behaves as far as the lessons' commands and checks look;
# the Dockerfiles say what works.
#
# In production learners pull the real images; here nothing can be pulled.
#
# Usage: sudo images/testing/build-offline.sh [BUSYBOX_TAG]   (default busybox:latest)
set -eu

tag="${1:-busybox:latest}"
standins="$(cd "$(dirname "$0")" && pwd)/standins"
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

# standin NAME TAG… [-- BUILD_ARG…]: builds standins/NAME with the classic builder (BuildKit
# may be missing, and would want to reach a registry), quietly unless it fails.
standin() {
    name="$1"
    shift
    tags=""
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        tags="$tags -t $1"
        shift
    done
    [ $# -eq 0 ] || shift
    build_args="--build-arg BASE=$tag"
    for build_arg in "$@"; do build_args="$build_args --build-arg $build_arg"; done
    # shellcheck disable=SC2086 # tags and build args are single words
    if ! output="$(DOCKER_BUILDKIT=0 docker build --network none $build_args $tags \
        -f "$standins/$name/Dockerfile" "$standins" 2>&1)"; then
        printf '%s\n' "$output" >&2
        echo "build-offline.sh: building the $name stand-in failed" >&2
        exit 1
    fi
    echo "built$(echo "$tags" | sed 's/ -t / /g')"
}
standin ubuntu ubuntu:22.04 ubuntu:latest
standin redis redis:7
standin mysql mysql:8.0 -- MYSQL_VERSION=8.0.36
standin mysql mysql:8.4 -- MYSQL_VERSION=8.4.0
standin wordpress wordpress:6 wordpress:latest
standin nginx nginx:1.27 -- NGINX_VERSION=1.27.0
standin nginx nginx:1.26 -- NGINX_VERSION=1.26.0
