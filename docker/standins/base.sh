#!/usr/bin/env bash
# Stand-in for python:3.11-slim-bookworm where no image registry is reachable: Debian bookworm from
# Debian's own mirror (debootstrap, minbase) with its Python 3.11, imported into the daemon DOCKER_HOST
# names. Built once: skipped when the image exists. Usage: docker/standins/base.sh [IMAGE]
set -euo pipefail
IMAGE=${1:-cellkiosk-standin/python:3.11-slim-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-docker}
if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base: $IMAGE exists"; exit 0
fi
command -v debootstrap >/dev/null || { echo "base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
root=$(mktemp -d /tmp/cellkiosk-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
# python3-venv gives `python3 -m venv` with pip (ensurepip), as the upstream image's python does.
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$MIRROR" >/dev/null
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
ln -sf python3 "$root/usr/bin/python"  # the upstream image has `python`
tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["python3"]' -c 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
echo "base: built $IMAGE ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
