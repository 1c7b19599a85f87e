#!/usr/bin/env bash
# Builds the berth workstation image without any container registry: a `debootstrap` Debian root,
# fetched from this machine's own apt sources, configured like the Dockerfile does (same package
# list, same setup.sh), then `docker import`ed.
#
# Usage (as root): images/workstation/build-offline.sh [IMAGE]   (default berth/workstation:latest)
# Environment: BERTH_DEBIAN_MIRROR overrides the mirror found in /etc/apt/sources*.
set -euo pipefail

image="${1:-berth/workstation:latest}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suite=bookworm # the Dockerfile's base is debian:bookworm-slim
path_env=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf '==> [%3ss] %s\n' "$SECONDS" "$*"; }
die() {
    printf 'build-offline.sh: error: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it): sudo $0 ${*:-}"
command -v docker >/dev/null || die "the docker CLI is missing (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first)"

# One build at a time on this machine; a second one waits, then builds again.
exec 9>/run/lock/berth-workstation-build.lock
if ! flock -n 9; then
    say "another build of the workstation image is running; waiting for it"
    flock 9
fi

version="$(sed -n 's/^ARG BERTH_WORKSTATION_VERSION=//p' "$here/Dockerfile")"
[ -n "$version" ] || die "no 'ARG BERTH_WORKSTATION_VERSION=' line in $here/Dockerfile"
packages="$(grep -v '^#' "$here/packages" | xargs | tr ' ' ',')"

if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi

# ---- Where to fetch Debian from: this machine's apt sources (deb822 *.sources and one-line
# *.list), never a built-in host. Prints "URI SUITE KEYRING" per usable entry (KEYRING "-" if none).
apt_sources() {
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && files+=("$f")
    done
    if [ ${#files[@]} -gt 0 ]; then
        awk '{ sub(/#.*/, "") }
             $1 == "deb" {
                 i = 2; key = "-"
                 if ($2 ~ /^\[/) {  # [ option=value ... ]
                     for (; i <= NF; i++) {
                         if ($i ~ /^\[?signed-by=/) { key = $i; sub(/^\[?signed-by=/, "", key); sub(/\]$/, "", key) }
                         if ($i ~ /\]$/) { i++; break }
                     }
                 }
                 if (i + 1 <= NF) print $i, $(i + 1), key
             }' "${files[@]}"
    fi
    files=()
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    if [ ${#files[@]} -gt 0 ]; then
        # Stanzas are separated by blank lines (one added between files); continuation lines
        # (inline keys) are skipped. Plain POSIX awk: Debian's default awk is mawk.
        awk 'function flush(   u, s, nu, ns, a, b, j, k) {
                 if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
                     nu = split(uris, a, " "); ns = split(suites, b, " ")
                     for (j = 1; j <= nu; j++) for (k = 1; k <= ns; k++) print a[j], b[k], key
                 }
                 types = uris = suites = enabled = ""; key = "-"
             }
             BEGIN { key = "-" }
             /^[ \t]*$/ { flush(); next }
             /^#/ || /^[ \t]/ { next }
             {
                 name = tolower($0); sub(/:.*/, "", name)
                 value = $0; sub(/^[^:]*:[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
                 if (name == "types") types = value
                 else if (name == "uris") uris = value
                 else if (name == "suites") suites = value
                 else if (name == "enabled") enabled = value
                 else if (name == "signed-by" && value ~ /^\//) key = value
             }
             END { flush() }' < <(for f in "${files[@]}"; do cat "$f"; echo; done)
    fi
}

sources="$(apt_sources | awk '$1 ~ /^(https?|file):/ && !seen[$0]++')"
mirror="${BERTH_DEBIAN_MIRROR:-$(awk -v s="$suite" '$2 == s { print $1; exit }' <<<"$sources")}"
[ -n "$mirror" ] || die "no '$suite' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/;
  add one, or set BERTH_DEBIAN_MIRROR to a Debian mirror URL"
keyring="$(awk -v s="$suite" -v m="$mirror" '$2 == s && $1 == m && $3 != "-" { print $3; exit }' <<<"$sources")"
# The release, its updates and its security fixes: what the Dockerfile's apt-get would see.
chroot_sources="$(awk -v s="$suite" '$2 == s || $2 == s "-updates" || $2 == s "-security" ||
    $2 == s "/updates" { print "deb", $1, $2, "main" }' <<<"$sources")"
[ -n "$chroot_sources" ] || chroot_sources="deb $mirror $suite main"

# debootstrap fetches with wget: give it apt's proxy, if apt has one.
if [ -z "${http_proxy:-}${https_proxy:-}" ]; then
    eval "$(apt-config shell http_proxy Acquire::http::Proxy https_proxy Acquire::https::Proxy)"
    [ -z "${http_proxy:-}" ] || export http_proxy
    [ -z "${https_proxy:-}" ] || export https_proxy
fi

# ---- Work in a temp dir; whatever happens, unmount what is mounted under it, then remove it.
tmp="$(mktemp -d "${TMPDIR:-/var/tmp}/berth-workstation.XXXXXX")"
rootfs="$tmp/rootfs"
cleanup() {
    local m
    awk -v p="$tmp/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() {
    chroot "$rootfs" /usr/bin/env -i PATH="$path_env" HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

say "debootstrap $suite (minbase) from $mirror into $tmp (about a minute)"
# dpkg's fsync after every file triples the time here; this root is thrown away or tarred anyway.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/berth-build-unsafe-io"
args=(--variant=minbase --components=main --include="$packages")
[ -n "$keyring" ] && [ -f "$keyring" ] && args+=(--keyring="$keyring")
if ! debootstrap "${args[@]}" "$suite" "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log above)"
fi

say "applying $suite updates and security fixes"
printf '%s\n' "$chroot_sources" >"$rootfs/etc/apt/sources.list"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
in_root apt-get update -q -o Acquire::Languages=none >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; die "apt-get update in the new root failed"; }
in_root apt-get dist-upgrade -y -q -o Dpkg::Options::=--force-confold >>"$tmp/apt.log" 2>&1 ||
    { tail -n 30 "$tmp/apt.log" >&2; die "apt-get dist-upgrade in the new root failed"; }

# The docker CLI only (it needs nothing but libc), with its bash completion: from this machine's
# Debian docker.io if installed, else unpacked (not installed) from the docker.io package.
if [ "$(dpkg-query -S /usr/bin/docker 2>/dev/null | cut -d: -f1)" = docker.io ]; then
    say "adding the docker CLI from this machine's docker.io ($(dpkg-query -W -f '${Version}' docker.io))"
    cli_root=""
else
    say "adding the docker CLI from the docker.io package (downloading it)"
    in_root sh -c 'cd /tmp && apt-get download -q docker.io && dpkg-deb -x docker.io_*.deb /tmp/docker.io' \
        >>"$tmp/apt.log" 2>&1 || { tail -n 30 "$tmp/apt.log" >&2; die "could not get docker.io"; }
    cli_root="$rootfs/tmp/docker.io"
fi
install -m 0755 "$cli_root/usr/bin/docker" "$rootfs/usr/bin/docker"
if [ -f "$cli_root/usr/share/bash-completion/completions/docker" ]; then
    install -m 0644 "$cli_root/usr/share/bash-completion/completions/docker" \
        "$rootfs/usr/share/bash-completion/completions/docker"
fi
rm -rf "$rootfs/tmp/docker.io" "$rootfs"/tmp/docker.io_*.deb

say "configuring (setup.sh, version $version)"
mkdir -p "$rootfs/tmp/berth-setup"
cp "$here/setup.sh" "$here/bash.bashrc" "$here/docker-compose-plugin" "$rootfs/tmp/berth-setup/"
in_root sh /tmp/berth-setup/setup.sh "$version"
rm -rf "$rootfs/tmp/berth-setup"
umount "$rootfs/proc"
rm "$rootfs/etc/dpkg/dpkg.cfg.d/berth-build-unsafe-io"
# Docker provides these at run time; do not ship this machine's.
: >"$rootfs/etc/resolv.conf"
echo localhost >"$rootfs/etc/hostname"

say "importing as $image"
old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
tar -C "$rootfs" --numeric-owner --xattrs --xattrs-include=security.capability \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude=./debootstrap -c . |
    docker import \
        --message "berth workstation $version, built offline by build-offline.sh" \
        --change "ENV LANG=C.UTF-8" \
        --change "ENV TERM=xterm-256color" \
        --change "ENV PATH=$path_env" \
        --change "LABEL berth.image=workstation berth.workstation.version=$version" \
        --change "USER learner" \
        --change "WORKDIR /home/learner" \
        --change 'CMD ["sleep", "infinity"]' \
        - "$image" >/dev/null
new_id="$(docker image inspect -f '{{.Id}}' "$image")"
# A rebuild leaves the previous image untagged: remove it unless something still uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ] &&
    [ "$(docker image inspect -f '{{len .RepoTags}}' "$old_id" 2>/dev/null)" = 0 ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
fi

say "smoke test"
docker run --rm --user learner "$image" sh -c 'cat /etc/berth-release && docker --version && docker compose version' |
    sed 's/^/    /'
size="$(docker image inspect -f '{{.Size}}' "$image")"
say "built $image ($((size / 1000000)) MB) in ${SECONDS}s"
