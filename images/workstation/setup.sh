#!/bin/sh
# Configures a Debian root as the berth workstation. Runs as root INSIDE that root: from the
# Dockerfile (RUN) and from build-offline.sh (chroot), so both images come out the same.
# Usage: setup.sh VERSION   (bash.bashrc and docker-compose-plugin must sit next to this script)
set -eu

version="${1:?usage: setup.sh VERSION}"
here="$(dirname "$0")"

# The learner: uid/gid 1000, bash, no password, no sudo. The home directory exists but stays empty
# (no /etc/skel files): at run time berth mounts an empty tmpfs over it anyway, and the shell must
# behave the same with or without that mount.
groupadd --gid 1000 learner
useradd --uid 1000 --gid 1000 --home-dir /home/learner --no-create-home \
    --shell /bin/bash --comment 'berth learner' learner
install -d -o 1000 -g 1000 -m 0755 /home/learner
if command -v sudo >/dev/null 2>&1; then
    echo "setup.sh: sudo must not be installed in the workstation" >&2
    exit 1
fi

# The shell's defaults (prompt, colours, completion) live system-wide; see bash.bashrc.
install -m 0644 "$here/bash.bashrc" /etc/bash.bashrc

# Lets berth and its tests tell that an image is ours, and which version.
printf 'NAME=berth-workstation\nVERSION=%s\n' "$version" > /etc/berth-release

# `docker compose …` as on a current Docker: a CLI plugin that hands its arguments to Debian's
# docker-compose (the CLI calls a plugin as `docker-compose compose ARGS…`).
install -d /usr/libexec/docker/cli-plugins
install -m 0755 "$here/docker-compose-plugin" /usr/libexec/docker/cli-plugins/docker-compose

# The docker CLI must be there, with Compose, and no engine.
docker --version >/dev/null
docker compose version >/dev/null
if [ -e /usr/sbin/dockerd ] || [ -e /usr/bin/dockerd ]; then
    echo "setup.sh: the Docker engine must not be in the workstation" >&2
    exit 1
fi

# Keep it small: no apt indexes or caches, no docs but the licences, no man pages, no translations.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian /usr/share/linda
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find /var/log -type f -delete
