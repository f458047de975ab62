#!/usr/bin/env bash
# Debian packages the demo and the tests need: the registry, skopeo, htpasswd, openssl, curl,
# and the package managers' own version ordering (rpm, Python's packaging and semver) that the
# golden files in tests/golden/versions are checked against, and debootstrap for the scan tests.
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v rpmbuild >/dev/null || need+=(rpm)  # rpm, rpmbuild: version oracle, RPM database fixture
# The scan tests: a debootstrap root filesystem (cached, see scripts/fixture-rootfs.sh), made
# into images by scripts/rootfs-image.py, and dpkg-query/dpkg as the Debian oracle.
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v python3 >/dev/null || need+=(python3)
/usr/bin/python3 -c 'import packaging' 2>/dev/null || need+=(python3-packaging)
/usr/bin/python3 -c 'import semver' 2>/dev/null || need+=(python3-semver)
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
