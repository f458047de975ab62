#!/usr/bin/env python3
"""checkov's failed checks on ../shared/manifests-corpus before and after `sealift harden`,
one application per checkov run (its graph checks only see one scan), and every failure left
after hardening grouped by the reason sealift's report gives for it.

usage: checkov-corpus.py CHECKOV SEALIFT [extra harden args...]
The images get made-up digests (no network here): the lock is built from the corpus itself."""
import collections, hashlib, json, os, re, subprocess, sys, tempfile

checkov, sealift, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
shared = os.environ.get("SEALIFT_SHARED") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
corpus = os.path.realpath(os.path.join(shared, "manifests-corpus"))
apps = sorted(d for d in os.listdir(corpus) if os.path.isdir(os.path.join(corpus, d)))

# checkov check -> sealift rule it corresponds to
RULE = {"CKV_K8S_8": "W24", "CKV_K8S_9": "W24", "CKV_K8S_10": "W18", "CKV_K8S_11": "W18", "CKV_K8S_12": "W18",
        "CKV_K8S_13": "W18", "CKV_K8S_14": "W21", "CKV_K8S_15": "W21", "CKV_K8S_43": "W21", "CKV_K8S_16": "W01",
        "CKV_K8S_17": "W02", "CKV_K8S_18": "W02", "CKV_K8S_19": "W02", "CKV_K8S_20": "W06", "CKV_K8S_21": "W25",
        "CKV_K8S_22": "W17", "CKV_K8S_23": "W07", "CKV_K8S_25": "W05", "CKV_K8S_28": "W05", "CKV_K8S_37": "W05",
        "CKV_K8S_29": "W09", "CKV_K8S_30": "W06", "CKV_K8S_31": "W09", "CKV_K8S_35": "W23", "CKV_K8S_38": "W19",
        "CKV_K8S_40": "W08", "CKV_K8S_49": "R02", "CKV_K8S_155": "R07", "CKV2_K8S_5": "R03", "CKV2_K8S_6": "C02"}

def run_checkov(root):
    fails, failed, passed = [], 0, 0
    for app in apps:
        out = subprocess.run([checkov, "-d", os.path.join(root, app), "--framework", "kubernetes", "-o", "json",
                              "--quiet", "--skip-download"], capture_output=True, text=True)
        docs = json.loads(out.stdout)
        for r in docs if isinstance(docs, list) else [docs]:
            if "summary" not in r:
                continue
            failed += r["summary"]["failed"]; passed += r["summary"]["passed"]
            fails += [(app, c["check_id"], c["resource"]) for c in r["results"]["failed_checks"]]
    return failed, passed, fails

def images(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "image" and isinstance(v, str): out.add(v)
            else: images(v, out)
    elif isinstance(node, list):
        for x in node: images(x, out)

with tempfile.TemporaryDirectory() as tmp:
    import yaml
    refs = set()
    for app in apps:
        for f in os.listdir(os.path.join(corpus, app)):
            for d in yaml.safe_load_all(open(os.path.join(corpus, app, f))): images(d, refs)
    with open(os.path.join(tmp, "lock.yaml"), "w") as lock:
        for r in sorted(refs):
            m = re.search(r"@(sha256:[0-9a-f]{64})$", r)
            lock.write('"%s": %s\n' % (r, m.group(1) if m else "sha256:" + hashlib.sha256(r.encode()).hexdigest()))
    reports = {}
    for app in apps:
        subprocess.run([sealift, "harden", os.path.join(corpus, app), "-o", os.path.join(tmp, "out", app),
                        "--images", os.path.join(tmp, "lock.yaml"), "--registry", "registry.site.test:5000",
                        "--namespace", app, "--report", os.path.join(tmp, app + ".json")] + extra,
                       check=True, stdout=subprocess.DEVNULL)
        reports[app] = json.load(open(os.path.join(tmp, app + ".json")))
    before = run_checkov(corpus)
    after = run_checkov(os.path.join(tmp, "out"))

print("checkov on %d applications: before %d failed / %d passed; after sealift harden %d failed / %d passed"
      % (len(apps), before[0], before[1], after[0], after[1]))
by_check = collections.Counter(c for _, c, _ in after[2])
print("\nleft after hardening, by check:")
for c, n in by_check.most_common():
    print("  %-12s %3d  (%s)" % (c, n, RULE.get(c, "?")))
groups = collections.Counter()
for app, check, resource in after[2]:
    parts = resource.split(".")
    kind, name = parts[0], parts[2] if len(parts) > 2 else parts[-1]
    rule = RULE.get(check, "?")
    cands = [f for f in reports[app]["findings"] if f["object"].split("/")[0] == kind and f["object"].split("/")[-1] == name]
    same = [f for f in cands if f["rule"] == rule or f["rule"].startswith("pss/") and rule in f["detail"]]
    if rule.startswith("R"):
        # Graph checks flag the binding; sealift reports the rule of the role it binds.
        same = [f for f in reports[app]["findings"] if f["reason"] == "RBAC_REVIEW" and f["object"].split("/")[-1] == name]
    infra = [f for f in cands if f["reason"] == "INFRA_PRIVILEGED"]
    if infra and rule.startswith("W"):
        same = infra
    if rule in ("W07", "W08") and not same:
        same = [f for f in cands if f["rule"] in ("W07", "W08")]
    if rule == "W09" and not same:
        same = [f for f in cands if f["reason"] == "INFRA_PRIVILEGED"]
    if rule == "W06" and not same:
        same = [f for f in cands if f["reason"] == "INFRA_PRIVILEGED"]
    if rule == "W05" and not same:
        same = [f for f in cands if f["reason"] == "INFRA_PRIVILEGED"]
    if rule == "C02":
        ns = parts[1] if len(parts) > 1 else ""
        same = [f for f in reports[app]["findings"] if f["object"] == "Namespace/" + ns]
    reason = same[0]["reason"] if same else "UNEXPLAINED"
    groups[reason] += 1
    if os.environ.get("VERBOSE") and reason in ("UNEXPLAINED", "UPSTREAM_SETTING"):
        print("  ", reason, app, check, resource, [(f["rule"], f["reason"]) for f in cands])
print("\nleft after hardening, by sealift's reason:")
for r, n in groups.most_common():
    print("  %-24s %3d" % (r, n))
