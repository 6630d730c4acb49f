"""`vqa eval` end to end on the tiny SmolVLM checkpoint and a generated set of 20 images: a
caption set (COCO format) and a question set (JSON lines). The report exists and its numbers
equal the metrics the reference implementations (pycocoevalcap, the VQAv2 evaluation's rules;
tests/reference/make_eval.py --recompute) compute from its predictions.jsonl; a run stopped
with Ctrl+C, and one killed outright, resume without recomputing the finished items; bad sets
get a clear message naming the file and the entry; two reports compare. Prints one line per
check and 'N passed, N failed'."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks, png, tiny_model  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/idefics3")
args = parser.parse_args()

model = tiny_model(args.reference)
make_eval = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference", "make_eval.py")
checks = Checks(args.vqa)
check = checks.check
work = tempfile.mkdtemp(prefix="vqa-eval-")
N = 20
# One item at a time: the same greedy answers in every run (and a stop lands between two items).
COMMON = ["--model", model, "--dtype", "float32", "--max-new-tokens", "6", "--no-heatmaps", "--examples", "2",
          "--batch", "1"]


def eval_cmd(*extra):
    return [args.vqa, "eval", *COMMON, *extra]


def run(*extra):
    return subprocess.run(eval_cmd(*extra), capture_output=True, text=True, timeout=300)


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cache_lines(out):
    """The predictions in the run's cache (a line a kill cut short is not one)."""
    folder = os.path.join(out, "cache")
    count = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name)) as f:
            for line in f:
                try:
                    json.loads(line)
                    count += 1
                except ValueError:
                    pass
    return count


def recompute(out, *set_args):
    p = subprocess.run([sys.executable, make_eval, "--recompute", out, *set_args], capture_output=True, text=True,
                       timeout=300)
    if p.returncode == 77:
        return None, p.stderr.strip()
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout), ""


def same_numbers(ours, theirs, tolerance):
    worst = max((abs(ours[k] - theirs[k]) for k in theirs), default=0.0)
    return set(ours) == set(theirs) and worst <= tolerance, worst


def stopped_midway(command, how, at_least):
    """Runs `command` (stderr not a terminal: a line per item), and once `at_least` items are
    answered sends `how`; returns the process's exit code."""
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        words = line.split()
        if len(words) >= 3 and words[1] == "answering" and "/" in words[2]:
            if int(words[2].split("/")[0]) >= at_least:
                proc.send_signal(how)
                break
    proc.stderr.read()
    return proc.wait(timeout=120)


try:
    images = os.path.join(work, "images")
    os.makedirs(images)
    for i in range(N):
        with open(os.path.join(images, f"COCO_val2014_{i + 1:012d}.png"), "wb") as f:
            f.write(png(24 + i % 5, 20 + i % 7, 3 + i))

    # What the model says about each image, so the references can agree with it in part.
    first = os.path.join(work, "first")
    blank = {"images": [{"id": i + 1, "file_name": f"COCO_val2014_{i + 1:012d}.png"} for i in range(N)],
             "annotations": [{"id": i + 1, "image_id": i + 1, "caption": "a picture"} for i in range(N)]}
    with open(os.path.join(work, "blank.json"), "w") as f:
        json.dump(blank, f)
    p = run("--task", "caption", "--annotations", os.path.join(work, "blank.json"), "--images", images, "--out", first)
    check("a caption run makes a report", p.returncode == 0 and os.path.exists(os.path.join(first, "index.html")),
          p.stderr[-2000:])
    said = {str(r["id"]): r["prediction"] for r in jsonl(os.path.join(first, "predictions.jsonl"))}
    check("every image has a prediction", len(said) == N, f"{len(said)} of {N}")

    # The caption set: references that repeat the prediction, share half of it, or differ.
    annotations = {"info": {}, "images": blank["images"], "annotations": []}
    for i in range(N):
        words = said[str(i + 1)].split()
        refs = [said[str(i + 1)], " ".join(words[: len(words) // 2] + ["and", "more"]), "a small red square",
                "A dog on the grass."]
        refs = refs[i % 3:] if i % 4 else refs
        for r in refs:
            annotations["annotations"].append({"id": len(annotations["annotations"]) + 1, "image_id": i + 1,
                                               "caption": r})
    captions = os.path.join(work, "captions.json")
    with open(captions, "w") as f:
        json.dump(annotations, f)

    # Stopped with Ctrl+C after 3 items, then killed after 6 more: each run resumes.
    out = os.path.join(work, "report")
    caption_args = ["--task", "caption", "--annotations", captions, "--images", images, "--out", out]
    rc = stopped_midway(eval_cmd(*caption_args), signal.SIGINT, 3)
    kept = cache_lines(out)
    check("Ctrl+C stops the run with code 130, its answers kept", rc == 130 and kept >= 3, f"rc {rc}, kept {kept}")
    check("a stopped run writes no report", not os.path.exists(os.path.join(out, "metrics.json")))
    rc = stopped_midway(eval_cmd(*caption_args), signal.SIGKILL, kept + 6)
    after_kill = cache_lines(out)
    check("a killed run keeps what it answered", rc == -signal.SIGKILL and after_kill >= kept + 6,
          f"rc {rc}, {kept} -> {after_kill}")
    p = run(*caption_args)
    check("the run after them finishes", p.returncode == 0, p.stderr[-2000:])
    check("... answering only the items not done before",
          f"{N - after_kill} answered now, {after_kill} from an earlier run" in p.stderr, p.stderr[-600:])
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    rows = jsonl(os.path.join(out, "predictions.jsonl"))
    check("the report has every item", metrics["items"] == N and len(rows) == N, f"{metrics['items']}, {len(rows)}")
    check("the predictions are the first run's (greedy)", all(said[r["id"]] == r["prediction"] for r in rows))
    html = open(os.path.join(out, "index.html")).read()
    check("index.html shows the scores and examples", "CIDEr-D" in html and "Best examples" in html
          and "images/" in html)
    ref, why = recompute(out, "--task", "caption", "--annotations", captions)
    if ref is None:
        print(f"skip the caption reference comparison: {why}")
    else:
        ok, worst = same_numbers(metrics["metrics"], ref["metrics"], 1e-9)
        check("caption metrics equal pycocoevalcap's on predictions.jsonl", ok, f"{metrics['metrics']} vs "
              f"{ref['metrics']} (worst {worst})")
        bad = [r["id"] for r in rows if not same_numbers(r["scores"], ref["per_item"][r["id"]], 1e-9)[0]]
        check("... and per image", not bad, f"differ: {bad[:5]}")
        check("... and they are not all zero", metrics["metrics"]["CIDEr-D"] > 0.1, str(metrics["metrics"]))

    # A question set of one's own: the model's first answer, partly, as the people's answers.
    vqa_set = os.path.join(work, "questions.jsonl")
    with open(vqa_set, "w") as f:
        for i in range(N):
            guess = said[str(i + 1)]
            answers = [guess] * (i % 5) + ["something else"] * (10 - i % 5)
            f.write(json.dumps({"image": f"COCO_val2014_{i + 1:012d}.png", "question": "Describe this image.",
                                "answers": answers, "answer_type": ["other", "yes/no"][i % 2],
                                "question_type": "what"}) + "\n")
    vout = os.path.join(work, "vqa-report")
    p = run("--task", "vqa", "--annotations", vqa_set, "--images", images, "--out", vout,
            "--prompt", "Describe this image in one sentence.")
    check("a VQA run makes a report", p.returncode == 0, p.stderr[-2000:])
    vmetrics = json.load(open(os.path.join(vout, "metrics.json")))
    vrows = jsonl(os.path.join(vout, "predictions.jsonl"))
    ref, _ = recompute(vout, "--task", "vqa", "--jsonl", vqa_set)
    ok, worst = same_numbers({"accuracy": vmetrics["metrics"]["accuracy"]}, ref["metrics"], 1e-9)
    check("VQA accuracy equals the official evaluation's on predictions.jsonl", ok,
          f"{vmetrics['metrics']} vs {ref['metrics']}")
    check("... per answer type", same_numbers(vmetrics["by_answer_type"], ref["by_answer_type"], 1e-9)[0])
    check("... per question", all(abs(r["scores"]["accuracy"] - ref["per_item"][r["id"]]["accuracy"]) <= 1e-9
                                  for r in vrows))
    check("... and it is neither 0 nor 100", 0 < vmetrics["metrics"]["accuracy"] < 100, str(vmetrics["metrics"]))

    # Two reports side by side.
    p = subprocess.run([args.vqa, "eval", "--compare", out, first], capture_output=True, text=True, timeout=60)
    check("--compare prints both reports' metrics and where they differ",
          p.returncode == 0 and "CIDEr-D" in p.stdout and "disagree most" in p.stdout, p.stdout[-1500:] + p.stderr)
    p = subprocess.run([args.vqa, "eval", "--compare", out, vout], capture_output=True, text=True, timeout=60)
    check("--compare refuses reports of different tasks", p.returncode == 1 and "different tasks" in p.stderr,
          p.stderr)

    # Bad sets: a clear message naming the file and the entry, before any model loads.
    def bad(name, text, *extra, expect):
        path = os.path.join(work, name)
        with open(path, "w") as f:
            f.write(text)
        p = run("--annotations", path, "--images", images, "--out", os.path.join(work, "bad"), *extra)
        check(f"bad set {name}: {expect[-1]}", p.returncode == 1 and all(e in p.stderr for e in expect), p.stderr)

    bad("notcoco.json", json.dumps({"images": []}), "--task", "caption",
        expect=["notcoco.json", "not COCO caption annotations"])
    bad("noimage.json", json.dumps({"images": [{"id": 99, "file_name": "missing.png"}],
                                    "annotations": [{"id": 1, "image_id": 99, "caption": "x"}]}), "--task", "caption",
        expect=["noimage.json", "images[0]", "missing.png", "does not exist"])
    bad("dup.jsonl", '{"id": 1, "image": "COCO_val2014_000000000001.png", "question": "q", "answers": ["a"]}\n' * 2, "--task", "vqa",
        expect=["dup.jsonl", "line 2", "appears twice"])
    bad("empty.json", json.dumps({"images": [], "annotations": []}), "--task", "caption",
        expect=["empty.json", "empty"])
    p = run("--task", "caption", "--annotations", os.path.join(work, "noimage.json"), "--images", images,
            "--skip-missing", "--out", os.path.join(work, "bad"))
    check("--skip-missing leaves out an image without a file and says so", p.returncode == 1 and
          "left out" in p.stderr and "empty" in p.stderr, p.stderr)
finally:
    shutil.rmtree(work, ignore_errors=True)
checks.finish()
