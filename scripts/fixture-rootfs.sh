#!/usr/bin/env bash
# Print the path of a Debian 12 root filesystem made with `debootstrap --variant=minbase`,
# building it on first use and caching it (in $SEALIFT_FIXTURES, default ~/.cache/sealift-tests).
# Needs root (debootstrap) and Debian's mirror, as the test-suite's apt installs do.
set -euo pipefail
cache="${SEALIFT_FIXTURES:-$HOME/.cache/sealift-tests}"
rootfs="$cache/debian12-minbase"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ ! -f "$rootfs.complete" ]; then
    command -v debootstrap >/dev/null || {
        sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq debootstrap >/dev/null
    }
    rm -rf "$rootfs" "$rootfs.complete" && mkdir -p "$cache"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    # Caches and logs that only make the image bigger.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*
    touch "$rootfs.complete"
fi
echo "$rootfs"
