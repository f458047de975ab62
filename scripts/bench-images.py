#!/usr/bin/env python3
"""Write the OCI layout of one benchmark workload (scripts/bench.sh) and list its images.

    bench-images.py OUT large   4 images: one with a 256 MiB layer, three with a 16 MiB one
    bench-images.py OUT many    40 images sharing an 8 MiB base layer, each with 256 KiB of its own

Layers are tar+gzip of random data, gzip level 0 (stored: random data does not compress and
level 0 writes at disk speed). Prints one `ref-name` per line (the layout's
`org.opencontainers.image.ref.name`, which is also the repository path and tag to push under).
"""
import gzip, hashlib, io, json, os, sys, tarfile

out, kind = sys.argv[1], sys.argv[2]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
MiB = 1 << 20


def blob(data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def layer(name: str, size: int) -> dict:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, 0, 0o644
        t.addfile(info, io.BytesIO(os.urandom(size)))
    return blob(gzip.compress(raw.getvalue(), compresslevel=0, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")


def image(ref: str, layers: list, n: int) -> dict:
    config = {"architecture": "amd64", "os": "linux", "config": {"User": "65532", "Cmd": ["/app"]},
              "rootfs": {"type": "layers", "diff_ids": []}, "created": f"2026-01-01T00:00:{n % 60:02}Z"}
    cfg = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": layers}
    d = blob(json.dumps(manifest).encode(), manifest["mediaType"])
    d["annotations"] = {"org.opencontainers.image.ref.name": ref}
    return d


images = []
if kind == "large":
    images.append(image("large/big:1.0", [layer("big.bin", 256 * MiB)], 0))
    for i in range(1, 4):
        images.append(image(f"large/app-{i}:1.0", [layer(f"app-{i}.bin", 16 * MiB)], i))
elif kind == "many":
    base = layer("base.bin", 8 * MiB)
    for i in range(40):
        images.append(image(f"many/app-{i:02}:1.0", [base, layer(f"app-{i}.bin", 256 << 10)], i))
else:
    sys.exit(f"unknown workload {kind!r}: large or many")
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": images}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
for d in images:
    print(d["annotations"]["org.opencontainers.image.ref.name"])
