#!/usr/bin/env python3
"""Turn directories into an OCI image layout, one gzip layer per directory, in order:

    rootfs-image.py OUT_LAYOUT TAG DIR [DIR...]

Used by the scan tests and the scan benchmark to make real images (a debootstrap root
filesystem, then application files) without a container engine. Layers stream to disk;
nothing is held in memory. Mtimes and owners are kept as they are on disk."""
import gzip, hashlib, json, os, sys, tarfile


class HashingWriter:
    """File-like object that hashes what passes through to `inner`."""

    def __init__(self, inner):
        self.inner, self.hash = inner, hashlib.sha256()

    def write(self, data):
        self.hash.update(data)
        return self.inner.write(data)


def write_blob(out, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def layer(out, directory):
    tmp = f"{out}/blobs/sha256/.layer.tmp"
    with open(tmp, "wb") as raw:
        compressed = HashingWriter(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
            plain = HashingWriter(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as t:
                for name in sorted(os.listdir(directory)):
                    t.add(os.path.join(directory, name), arcname=name, recursive=True)
    digest = compressed.hash.hexdigest()
    os.replace(tmp, f"{out}/blobs/sha256/{digest}")
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{digest}",
            "size": os.path.getsize(f"{out}/blobs/sha256/{digest}")}
    return desc, f"sha256:{plain.hash.hexdigest()}"


def main():
    out, tag, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
    layers, diff_ids = [], []
    for d in dirs:
        desc, diff_id = layer(out, d)
        layers.append(desc)
        diff_ids.append(diff_id)
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cfg = write_blob(out, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": layers}
    m = write_blob(out, json.dumps(manifest).encode(), manifest["mediaType"])
    m["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index_path = f"{out}/index.json"
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [e for e in index["manifests"]
                          if e.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag] + [m]
    with open(index_path, "w") as f:
        json.dump(index, f)
    with open(f"{out}/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(m["digest"])


main()
