#!/usr/bin/env python3
"""Validate Kubernetes objects against a CustomResourceDefinition's schema, strictly.

Usage: crd-validate.py CRD.yaml OBJECTS.yaml...

Takes the openAPIV3Schema of the version each object's apiVersion names, turns it into JSON
Schema (nullable, x-kubernetes-int-or-string), and adds `additionalProperties: false` wherever
the schema lists properties and neither sets x-kubernetes-preserve-unknown-fields nor allows
additional properties itself: a misspelt field fails as it would under the API server's strict
field validation. Objects of other kinds are skipped; it is an error if none was checked.
A field whose schema description starts with "Deprecated" is refused too. Prints one line per
object; exits 1 if any is invalid.
"""
import sys

import jsonschema
import yaml


def strict(schema):
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: strict(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = strict(value) if isinstance(value, dict) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict(v) for v in value]
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not preserve and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


def deprecated(obj, schema, path=""):
    """Paths in `obj` of fields the schema describes as deprecated."""
    found = []
    if isinstance(obj, dict) and isinstance(schema, dict):
        props = schema.get("properties", {})
        for key, value in obj.items():
            sub = props.get(key)
            if sub is None:
                continue
            if str(sub.get("description", "")).startswith("Deprecated"):
                found.append(f"{path}/{key}")
            found += deprecated(value, sub, f"{path}/{key}")
    elif isinstance(obj, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(obj):
            found += deprecated(value, schema["items"], f"{path}/{i}")
    return found


def main():
    crd = yaml.safe_load(open(sys.argv[1]))
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    versions = {v["name"]: v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v.get("served")}
    checked, bad = 0, 0
    for path in sys.argv[2:]:
        for obj in yaml.safe_load_all(open(path)):
            if not obj or obj.get("kind") != kind or not obj.get("apiVersion", "").startswith(group + "/"):
                continue
            version = obj["apiVersion"].split("/", 1)[1]
            if version not in versions:
                print(f"INVALID {kind}/{obj['metadata']['name']}: {group}/{version} is not served")
                bad += 1
                continue
            schema = strict(versions[version])
            # apiVersion, kind and metadata (ObjectMeta) belong to the API server; some CRDs
            # leave them out of their schema.
            props = schema.setdefault("properties", {})
            props.update({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}})
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
            old = deprecated(obj, versions[version])
            checked += 1
            name = f"{kind}/{obj['metadata']['name']}"
            if errors or old:
                bad += 1
                for e in errors:
                    print(f"INVALID {name}: {'/'.join(map(str, e.path))}: {e.message}")
                for p in old:
                    print(f"INVALID {name}: {p}: deprecated in this CRD version")
            else:
                print(f"ok {name} ({obj['apiVersion']})")
    if checked == 0:
        print(f"no {kind} object found", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
