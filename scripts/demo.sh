#!/usr/bin/env bash
# The main job end to end: two local registries (TLS + htpasswd), test images pushed to the
# "connected" one, a signed bundle built from them, verified, and loaded into the
# "disconnected" one. Everything happens under a temporary directory on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SEALIFT_SHARED:-$root/../shared}
"$root/scripts/install-deps.sh"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sealift="$root/target/release/sealift"
work=$(mktemp -d)
# The work directory goes at the end unless SEALIFT_DEMO_KEEP=1.
trap '"$root/scripts/registry.sh" stop "$work/src-reg"; "$root/scripts/registry.sh" stop "$work/dst-reg"; [ -n "${SEALIFT_DEMO_KEEP:-}" ] || rm -rf "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

say "starting a source registry and a site registry (docker-registry, TLS, htpasswd)"
src=127.0.0.1:$("$root/scripts/registry.sh" start "$work/src-reg" demo demo-pass)
dst=127.0.0.1:$("$root/scripts/registry.sh" start "$work/dst-reg" site site-pass)
echo "source: $src    site: $dst"

say "building test images (one multi-arch, one with Alpine 3.14's package database) and copying them to the source with skopeo"
python3 "$root/scripts/make-image.py" "$work/layout"
python3 "$root/scripts/rootfs-image.py" "$work/layout" base:3.14 "$root/tests/fixtures/scan/alpine-3.14" >/dev/null
mkdir -p "$work/certs" && cp "$work/src-reg/ca.crt" "$work/certs/"
for img in web:1.0 tools:2.0 base:3.14; do
    skopeo copy --quiet --all --preserve-digests --insecure-policy --dest-cert-dir "$work/certs" \
        --dest-creds demo:demo-pass "oci:$work/layout:$img" "docker://$src/demo/$img"
done

cd "$work"
mkdir -p deploy && cat > deploy/web.yaml <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: $src/demo/web:1.0}]
YAML
cat > sealift.yaml <<YAML
name: demo-release
images:
  - $src/demo/web:1.0
  - ref: docker://$src/demo/tools:2.0
    platforms: [linux/amd64, linux/arm64]
  - $src/demo/base:3.14
manifests:
  - deploy/
harden:
  namespace: shop
scan:
  vuln-db: vulndb/
  fail-on: high
YAML
export SEALIFT_PASSWORD=demo-key-passphrase
export SEALIFT_STATE_DIR="$work/state"   # the audit log and receipts, kept out of ~
export SEALIFT_REGISTRY_USERNAME=demo SEALIFT_REGISTRY_PASSWORD=demo-pass

say "sealift db build: the offline vulnerability database from real advisory records"
"$sealift" db build --from "$shared/vulndata" --from "$shared/scan-testbed/curated" -o vulndb | tail -3

say "sealift keys generate: the release key, and the site's own key for receipts and the audit log"
"$sealift" keys generate --dir keys
"$sealift" keys generate --dir site-keys
export SEALIFT_SITE_KEY="$work/site-keys/sealift.key"   # every verify, load and check signs its audit entry

say "a policy that blocks every finding (fail-on: unknown) stops bundle create: exit 1, nothing written"
sed 's/fail-on: high/fail-on: unknown/' sealift.yaml > strict.yaml
"$sealift" bundle create -f strict.yaml -o strict.tar --key keys/sealift.key --ca-file src-reg/ca.crt 2>/dev/null \
    | head -6 || true
[ ! -e strict.tar ] && echo "(no strict.tar was written)"

say "sealift bundle create (connected side): pull, scan every platform, sign"
"$sealift" bundle create -f sealift.yaml -o release.tar --key keys/sealift.key --ca-file src-reg/ca.crt

say "sealift bundle inspect"
"$sealift" bundle inspect release.tar

say "sealift verify (disconnected side, offline): signatures, every digest, the scan policy judged today"
"$sealift" verify release.tar --key keys/sealift.pub

say "the scan report and SBOM travel signed inside the bundle"
tar -tf release.tar | grep '^sealift/scan/' | head -4

say "the manifests were hardened into the bundle: pinned by digest, least privilege, namespace policies"
tar -xOf release.tar sealift/manifests/deploy/web.yaml | grep -E 'image:|runAsUser|readOnlyRootFilesystem|namespace:'
tar -tf release.tar | grep '^sealift/manifests/sealift-cluster/\|^sealift/harden/'

say "a tampered copy is refused, and nothing is pushed"
cp release.tar tampered.tar
printf 'x' | dd of=tampered.tar bs=1 seek=$(( $(stat -c %s tampered.tar) - 20000 )) conv=notrunc status=none
"$sealift" verify tampered.tar --key keys/sealift.pub || echo "(exit code $?)"
echo site-pass | "$sealift" load tampered.tar --key keys/sealift.pub --registry "$dst" \
    --ca-file dst-reg/ca.crt --username site --password-stdin >/dev/null 2>load-tampered.err || echo "load: exit code $?"
tail -1 load-tampered.err
echo "the site registry's catalog: $(curl -s --cacert dst-reg/ca.crt -u site:site-pass "https://$dst/v2/_catalog")"

say "sealift load into the site registry"
echo site-pass | "$sealift" load release.tar --key keys/sealift.pub --registry "$dst" \
    --ca-file dst-reg/ca.crt --username site --password-stdin --manifests-out site --receipt receipt.json

say "the import receipt: who loaded what, signed with the site key; openssl checks it over the DSSE PAE"
jq -r .payload receipt.json | base64 -d > statement.json
jq -c '.predicate | {verificationResult, verifier: .verifier.id, operator: .["https://sealift.dev/receipt/import/v1"].operator}' statement.json
printf 'DSSEv1 28 application/vnd.in-toto+json %s ' "$(stat -c %s statement.json)" | cat - statement.json > pae
jq -r '.signatures[0].sig' receipt.json | base64 -d > receipt.sig
openssl dgst -sha256 -verify site-keys/sealift.pub -signature receipt.sig pae

say "loading an older bundle of the same name is refused (exit 1): receipts in the registry say a newer one is there"
cat > older.yaml <<YAML
name: demo-release
images:
  - $src/demo/web:1.0
YAML
SOURCE_DATE_EPOCH=1 "$sealift" bundle create -f older.yaml -o older.tar --key keys/sealift.key --ca-file src-reg/ca.crt >/dev/null 2>&1
echo site-pass | "$sealift" load older.tar --key keys/sealift.pub --registry "$dst" --format json \
    --ca-file dst-reg/ca.crt --username site --password-stdin 2>&1 >/dev/null | grep -v '^verify ' || echo "(exit code $?)"

say "the site's manifests: images from the site registry by digest, and admission that enforces it"
grep 'image:' site/deploy/web.yaml
grep -E "kind:|startsWith|name: sealift" site/sealift-cluster/admission.yaml

say "what the site registry now holds"
curl -s --cacert dst-reg/ca.crt -u site:site-pass "https://$dst/v2/_catalog"; echo
mkdir -p dst-certs && cp dst-reg/ca.crt dst-certs/
skopeo inspect --raw --cert-dir dst-certs --creds site:site-pass "docker://$dst/demo/tools:2.0" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("demo/tools:2.0 is an index of", [m["platform"]["architecture"] for m in d["manifests"]])'
say "the image signatures went along (cosign .sig images and Sigstore bundle referrer indexes)"
skopeo list-tags --cert-dir dst-certs --creds site:site-pass "docker://$dst/demo/web"

say "the scheduled check: the site registry against the signed bundle (read-only), receipts included"
SEALIFT_REGISTRY_USERNAME=site SEALIFT_REGISTRY_PASSWORD=site-pass \
    "$sealift" check --registry "$dst" --bundle release.tar --key keys/sealift.pub --ca-file dst-reg/ca.crt
say "someone retags demo/web:1.0 around sealift; the check says so (exit 1)"
skopeo copy --quiet --preserve-digests --multi-arch all --src-cert-dir dst-certs --dest-cert-dir dst-certs \
    --src-creds site:site-pass --dest-creds site:site-pass "docker://$dst/demo/tools:2.0" "docker://$dst/demo/web:1.0"
SEALIFT_REGISTRY_USERNAME=site SEALIFT_REGISTRY_PASSWORD=site-pass \
    "$sealift" check --registry "$dst" --bundle release.tar --key keys/sealift.pub --ca-file dst-reg/ca.crt \
    || echo "(exit code $?)"
say "the audit log: every load, verify and check, hash-chained and signed"
cut -c1-150 "$SEALIFT_STATE_DIR/audit.log"
"$sealift" audit verify "$SEALIFT_STATE_DIR/audit.log" --key site-keys/sealift.pub
if [ -n "${SEALIFT_DEMO_KEEP:-}" ]; then say "done; everything is kept in $work"; else say "done (SEALIFT_DEMO_KEEP=1 keeps the work directory)"; fi
