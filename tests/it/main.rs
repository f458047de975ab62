//! sealift's integration tests, one binary. Registries are Debian's `docker-registry` started
//! on 127.0.0.1 with TLS and htpasswd auth by `scripts/registry.sh`.

// Registries, generated images, keys and the CLI runner.
mod support;
// The OCI referrers API, which Distribution 2.8 lacks, as a proxy in front of it.
// The TLS plumbing the test proxies in front of docker-registry share.
mod referrers_api;
mod tls_proxy;
// Independent verifiers: openssl, sigstore-rs, sigstore-types/-crypto.
mod oracles;
// Pull from a TLS+auth registry, bundle, verify, load into another; digests must match.
mod e2e;
// Tampered bundles: each one rejected by `verify` and by `load`, with nothing pushed.
mod tamper;
// The bundle's OCI layout is readable by skopeo; bundles are reproducible.
mod interop;
// `keys generate`: cosign-format files, 0600, no overwriting.
mod keys;
// Image signatures: accepted by openssl and sigstore-rs after load; bad ones rejected.
mod signatures;
// Trust policy: threshold, co-signing with `bundle sign`, expiry, revocation, Ed25519.
mod trust;
// Registries with the referrers API: used on push and on read, no tag-schema fallback.
mod referrers;
// Version ordering per ecosystem: golden files, checked against dpkg, rpm and Python.
mod versions;
// `db build` on the real advisory records in ../shared; the store fails closed.
mod vulndb;
// CVSS base scores of every vector in ../shared against Red Hat's `cvss` library.
mod cvss;
// `sealift scan` on a debootstrap root filesystem, real lockfiles, a Go binary and Alpine 3.14.
mod scan;
// SBOMs and SARIF read by trivy, cyclonedx-python-lib, spdx-tools and the OASIS SARIF schema.
mod consumers;
// Scanning inside `bundle create`: reports and SBOMs in the bundle, the policy gate, verify.
mod scan_bundle;
// Image shapes that broke peers: nested indexes, zstd frames, attestations, artifacts.
mod shapes;
// Random graphs of indexes, images and artifacts: every stage sees the same runnable set.
mod graph_bundles;
// Layer decoding (gzip members, zstd frames, plain tar) against GNU tar's listing.
mod layers;
// RPM's SQLite database written by rpm itself: inventory equals `rpm -qa`.
mod scan_rpm;
// The Pod Security evaluator against upstream's pass/fail fixtures in ../shared/psa-fixtures.
mod pss;
// `sealift harden` on ../shared/manifests-corpus: pinned, restricted or explained, valid, stable.
mod harden;
// Kubernetes API versions: the deprecation table against kubernetes-validate's schemas,
// removed ones migrated or refused, unknown kinds' images pinned.
mod apis;
// Flaky and hostile registries behind a fault-injecting proxy: retries, resumed downloads,
// bounded reads.
mod faults;
// The fuzz targets' committed seeds and regression inputs, once each, on stable Rust.
mod fuzz_corpus;
// `sealift check`: the site registry against verified bundles, one status per kind of change.
mod check;
// The review page (`--format html`) in headless Chromium: every section shown, nothing run.
mod review;
// Import receipts and the audit log: signed, attached, required by admission; rollbacks refused.
mod receipts;
