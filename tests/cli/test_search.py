"""`vqa index`, `vqa search` and `vqa tags` end to end on the small random CLIP and SigLIP
checkpoints of tests/reference/make_dual.py (<reference>/<case>/model) and its generated shapes
(<reference>/images): a folder indexed (a broken file skipped and reported), indexed again
without work, files added, renamed and deleted between runs; text search scored as the
reference's cosines, image search leaving the query out, --folder, --json; zero-shot label
scores as the reference's softmax (CLIP) or sigmoid (SigLIP); the messages for a missing
folder, a model that is not a dual encoder and an index empty for the model. Exits 77
(skipped) when the reference has not written the checkpoints. Prints one line per check and
'N passed, N failed'."""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks, png  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/dual")
args = parser.parse_args()


def model_dir(case):
    for d in (os.path.join(args.reference, case, "model"), os.path.join(args.reference, case)):
        if os.path.exists(os.path.join(d, "config.json")):
            return d
    return None


cases = [(c, model_dir(c)) for c in ("clip", "siglip")]
cases = [(c, m) for c, m in cases if m]
images_dir = os.path.join(args.reference, "images")
if not cases or not os.path.isdir(images_dir):
    print(f"SKIP: no dual-encoder checkpoints under {args.reference}; run tests/reference/make_dual.py")
    sys.exit(77)

checks = Checks(args.vqa)
check = checks.check
run = checks.run
work = tempfile.mkdtemp(prefix="vqa-search-")


def safetensors(path):
    """{name: (shape, flat list)} for the F32 and I64 tensors of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] not in ("F32", "I64"):
            continue
        a, b = t["data_offsets"]
        fmt = "f" if t["dtype"] == "F32" else "q"
        out[name] = (t["shape"], list(struct.unpack(f"<{(b - a) // struct.calcsize(fmt)}{fmt}", data[a:b])))
    return out


def row(tensor, i):
    shape, flat = tensor
    return flat[i * shape[1]:(i + 1) * shape[1]]


def as_json(p):
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


try:
    for case, model in cases:
        photos = os.path.join(work, case, "photos")
        library = os.path.join(work, case, "library.db")
        os.makedirs(os.path.join(photos, "sub"))
        names = sorted(f for f in os.listdir(images_dir) if f.endswith(".png"))
        for k, name in enumerate(names):  # every third in a subfolder
            shutil.copy(os.path.join(images_dir, name), os.path.join(photos, "sub" if k % 3 == 2 else "", name))
        path_of = {n: os.path.join(photos, "sub" if k % 3 == 2 else "", n) for k, n in enumerate(names)}
        with open(os.path.join(photos, "broken.jpg"), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF")
        common = ["--model", model, "--library", library]

        p = run("index", photos, *common, "--json")
        out = as_json(p)
        report = out["folders"][0] if out else {}
        check(f"{case}: index adds every image and reports the broken one",
              p.returncode == 0 and report.get("added") == len(names) and out.get("images") == len(names) and
              [f["path"] for f in report.get("failed", [])] == [os.path.join(photos, "broken.jpg")] and
              "broken.jpg" in p.stderr, p.stdout + p.stderr)
        p = run("index", photos, *common, "--json")
        report = (as_json(p) or {"folders": [{}]})["folders"][0]
        check(f"{case}: a second run embeds nothing and remembers the broken file",
              p.returncode == 0 and report.get("unchanged") == len(names) and report.get("added") == 0 and
              report.get("failed", [{}])[0].get("remembered") is True, p.stdout + p.stderr)

        # Text search: the reference's cosines (logit = scale * cosine + bias) in their order.
        ref_file = os.path.join(args.reference, case, "reference.safetensors")
        case_json = os.path.join(args.reference, case, "case.json")
        query = "a red circle"
        p = run("search", query, *common, "--top", "100", "--json")
        found = as_json(p) or []
        scores = [m["score"] for m in found]
        check(f"{case}: text search ranks every image, best first",
              p.returncode == 0 and len(found) == len(names) and scores == sorted(scores, reverse=True) and
              all(m["width"] > 0 and m["height"] > 0 for m in found), p.stdout + p.stderr)
        if os.path.exists(ref_file) and os.path.exists(case_json):
            ref = safetensors(ref_file)
            meta = json.load(open(case_json))
            qi = meta["queries"].index(query)
            logits = row(ref["logits_per_text"], qi)
            want = {path_of[f]: (logits[i] - meta["logit_bias"]) / meta["logit_scale"] for i, f in enumerate(meta["images"])}
            worst = max((abs(m["score"] - want[m["path"]]) for m in found), default=1.0)
            check(f"{case}: text search scores are the reference's cosines", worst < 2e-4, f"worst {worst}")

            # Tags: the reference's label scores over these labels (CLIP: softmax among them).
            labels = meta["queries"][:5]
            image = meta["images"][0]
            p = run("tags", path_of[image], "--model", model, "--labels", ",".join(labels), "--json")
            got = {s["label"]: s["score"] for s in (as_json(p) or {}).get("labels", [])}
            per_image = [row(ref["logits_per_text"], t)[0] for t in range(len(labels))]
            if meta["family"] == "clip":
                top = max(per_image)
                e = [math.exp(v - top) for v in per_image]
                want_tags = [v / sum(e) for v in e]
            else:
                want_tags = [1 / (1 + math.exp(-v)) for v in per_image]
            worst = max((abs(got.get(l, -9) - w) for l, w in zip(labels, want_tags)), default=1.0)
            check(f"{case}: tags are the reference's label scores", p.returncode == 0 and worst < 2e-4,
                  f"worst {worst}; {p.stdout}{p.stderr}")
        else:
            print(f"note {case}: no reference.safetensors/case.json; scores not compared")

        # Image search: the query's own file left out.
        first = path_of[names[0]]
        p = run("search", "--image", first, *common, "--top", "3", "--json")
        found = as_json(p) or []
        check(f"{case}: --image finds other images, not itself",
              p.returncode == 0 and len(found) == 3 and first not in [m["path"] for m in found], p.stdout + p.stderr)
        outside = os.path.join(work, case, "outside.png")
        shutil.copy(first, outside)
        p = run("search", "--image", outside, *common, "--top", "1", "--json")
        found = as_json(p) or [{}]
        check(f"{case}: an outside copy of an image finds it first",
              p.returncode == 0 and found[0].get("path") == first and abs(found[0].get("score", 0) - 1) < 1e-4,
              p.stdout + p.stderr)
        p = run("search", query, *common, "--folder", os.path.join(photos, "sub"), "--json")
        found = as_json(p) or []
        check(f"{case}: --folder keeps to it",
              p.returncode == 0 and found and all("/sub/" in m["path"] for m in found), p.stdout + p.stderr)
        p = run("search", query, *common, "--top", "2")
        lines = p.stdout.splitlines()
        check(f"{case}: plain output is score, path, size", p.returncode == 0 and len(lines) == 2 and
              all(len(line.split("\t")) == 3 for line in lines), p.stdout + p.stderr)

        # Between runs: one added, one renamed, one deleted.
        with open(os.path.join(photos, "new.png"), "wb") as f:
            f.write(png(40, 30, 5))
        os.rename(path_of[names[1]], os.path.join(photos, "renamed.png"))
        os.remove(path_of[names[2]])
        p = run("index", photos, *common, "--json")
        report = (as_json(p) or {"folders": [{}]})["folders"][0]
        check(f"{case}: changes between runs: 1 added, 1 reused, 2 removed",
              p.returncode == 0 and report.get("added") == 1 and report.get("reused") == 1 and
              report.get("removed") == 2 and report.get("unchanged") == len(names) - 2, p.stdout + p.stderr)
        p = run("search", query, *common, "--top", "100", "--json")
        paths = [m["path"] for m in as_json(p) or []]
        check(f"{case}: search sees the folder as it is now",
              os.path.join(photos, "renamed.png") in paths and os.path.join(photos, "new.png") in paths and
              path_of[names[1]] not in paths and path_of[names[2]] not in paths and len(paths) == len(names),
              p.stdout + p.stderr)

        # Messages.
        p = run("index", os.path.join(work, "nope"), *common)
        check(f"{case}: a missing folder is named", p.returncode == 1 and "nope does not exist" in p.stderr, p.stderr)
        p = run("search", query, "--model", model, "--library", os.path.join(work, case, "empty.db"))
        check(f"{case}: an empty index says to run vqa index",
              p.returncode == 1 and "run `vqa index" in p.stderr, p.stderr)

    not_dual = os.path.join(work, "not-dual")
    os.makedirs(not_dual)
    with open(os.path.join(not_dual, "config.json"), "w") as f:
        json.dump({"model_type": "llama"}, f)
    p = run("search", "a cat", "--model", not_dual, "--library", os.path.join(work, "x.db"))
    check("a model that is not a dual encoder is named so", p.returncode == 1 and "not a dual encoder" in p.stderr,
          p.stderr)
    p = run("tags", os.path.join(images_dir, names[0]), "--model", cases[0][1], "--labels", " , ")
    check("tags without labels is refused", p.returncode == 1 and "--labels" in p.stderr, p.stderr)
finally:
    shutil.rmtree(work, ignore_errors=True)
checks.finish()
