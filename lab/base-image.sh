#!/usr/bin/env bash
# Build the lab's base image: a plain Debian 12 with systemd as PID 1, standing in for a VM.
# No image registry is reachable here, so the root filesystem comes from debootstrap and is
# imported with `docker import`. The tag is a hash of this recipe: editing the recipe builds a
# new image, an unchanged recipe reuses the cached one.
# Usage: lab/base-image.sh            -> prints the image reference on stdout
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo="airflow-lab/debian12-systemd"
tag=$(sha256sum "$0" | cut -c1-12)
image="$repo:$tag"
mirror="${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${LAB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

log() { printf '[base-image] %s\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 || {
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

rootfs=$(mktemp -d /var/tmp/airflow-lab-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

log "debootstrap bookworm into $rootfs (about 70 s)"
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-apt,systemd,systemd-sysv,dbus,sudo,iproute2,procps,ca-certificates,gnupg \
  bookworm "$rootfs" "$mirror" >/dev/null

# What a freshly installed Debian 12 VM has: the three suites and a hostname of its own.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
SOURCES
: >"$rootfs/etc/machine-id"
# Containers have no consoles and no kernel to tune; these units only fail or wait there.
for unit in getty.target console-getty.service systemd-remount-fs.service \
            systemd-udevd.service systemd-modules-load.service sys-kernel-config.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# No package lists in the image, and an old timestamp, so the first `apt update_cache` with a
# cache_valid_time really refreshes them (lists baked into the image would go stale).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
touch -d '2000-01-01' "$rootfs/var/lib/apt/lists"

log "importing as $image"
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -c 'ENV container=docker' \
  -c "LABEL org.airflow-lab.recipe=$tag" \
  - "$image" >/dev/null
docker tag "$image" "$repo:latest"
echo "$image"
