#!/usr/bin/env python3
"""Write a small OCI image layout for the demo: `web:1.0` (one manifest) and `tools:2.0`
(an index for linux/amd64 and linux/arm64) sharing a base layer. Layers are real tar+gzip."""
import gzip, hashlib, io, json, os, sys, tarfile

out = sys.argv[1]
# Optional second argument: megabytes of random data per image (split over its layers).
mb = int(sys.argv[2]) if len(sys.argv) > 2 else 2
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)


def blob(data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def layer(files: dict) -> dict:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            t.addfile(info, io.BytesIO(content))
    return blob(gzip.compress(raw.getvalue(), compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")


def image(arch: str, layers: list) -> dict:
    config = {"architecture": arch, "os": "linux", "config": {"User": "65532", "Cmd": ["/app"]},
              "rootfs": {"type": "layers", "diff_ids": []}}
    cfg = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": layers}
    return blob(json.dumps(manifest).encode(), manifest["mediaType"])


base = layer({"etc/os-release": b"ID=demo\n", "usr/share/base.bin": os.urandom(mb * 400_000)})
web = image("amd64", [base, layer({"app": b"#!/bin/sh\necho web\n", "data.bin": os.urandom(mb * 600_000)})])
children = []
for arch in ("amd64", "arm64"):
    m = image(arch, [base, layer({"app": f"tools for {arch}\n".encode() + os.urandom(mb * 250_000)})])
    m["platform"] = {"os": "linux", "architecture": arch}
    children.append(m)
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children}
tools = blob(json.dumps(index).encode(), index["mediaType"])
web["annotations"] = {"org.opencontainers.image.ref.name": "web:1.0"}
tools["annotations"] = {"org.opencontainers.image.ref.name": "tools:2.0"}
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [web, tools]}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
