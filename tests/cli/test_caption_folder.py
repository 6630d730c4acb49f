"""`vqa caption` over a folder, end to end on the tiny SmolVLM checkpoint: 30 generated images
in nested folders with a broken file, a huge one and a duplicate. Every image is captioned
once; the broken and huge ones are reported and skipped; killing the process (SIGKILL, at
whatever instant it is in) and running the same command again finishes with every image
captioned exactly once, the library and the JSONL file agreeing; sidecars are whole and an
existing one is kept; Ctrl+C stops cleanly; two processes writing one library at once lose
nothing. Prints one line per check and 'N passed, N failed'."""
import argparse
import fcntl
import json
import os
import shutil
import signal
import sqlite3
import struct
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

checks = Checks(args.vqa)
check = checks.check
work = tempfile.mkdtemp(prefix="vqa-caption-folder-")


def make_folder(root, count, seed0=1):
    """`count` images over three levels, plus a broken file, a huge one and a duplicate."""
    paths = []
    for i in range(count):
        sub = os.path.join(root, *(["trip"] if i % 3 == 1 else ["trip", "day2"] if i % 3 == 2 else []))
        os.makedirs(sub, exist_ok=True)
        p = os.path.join(sub, f"img{i:02d}.png")
        with open(p, "wb") as f:
            f.write(png(20 + i % 7, 18 + i % 5, seed0 + i))
        paths.append(p)
    with open(os.path.join(root, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    huge = bytearray(png(1, 1, 1))
    huge[16:24] = struct.pack(">II", 40000, 40000)  # declares 1.6 gigapixels
    with open(os.path.join(root, "trip", "huge.png"), "wb") as f:
        f.write(bytes(huge))
    shutil.copy(paths[4], os.path.join(root, "trip", "day2", "copy-of-img04.png"))
    return paths


def caption(folder, out, library, *extra):
    return [args.vqa, "caption", "--model", model, folder, "--recursive", "--out", out, "--library", library,
            "--max-new-tokens", "8", "--ignore-eos", "--dtype", "float32", *extra]


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def library_captions(library):
    db = sqlite3.connect(library)
    try:
        return dict(db.execute("SELECT i.path, c.text FROM captions c JOIN images i ON i.id = c.image_id"))
    finally:
        db.close()


try:
    folder = os.path.join(work, "photos")
    images = make_folder(folder, 27)  # + broken, huge, duplicate: 30 files
    expected = set(images) | {os.path.join(folder, "trip", "day2", "copy-of-img04.png")}
    library = os.path.join(work, "library.db")
    out = os.path.join(work, "captions.jsonl")
    mine = os.path.join(folder, "img00.txt")
    with open(mine, "w") as f:
        f.write("my own caption\n")

    # Killed three times at whatever instant it is in after a few captions, then run to the end.
    kills = 0
    for after in (3, 5, 4):
        proc = subprocess.Popen(caption(folder, out, library, "--sidecar"), stderr=subprocess.PIPE, text=True)
        captioned = 0
        for line in proc.stderr:
            if "] captioned " in line or "] reused " in line:
                captioned += 1
                if captioned == after:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
        proc.stderr.close()
        proc.wait(timeout=120)
    check("the run was killed three times on the way", kills == 3, str(kills))
    r = subprocess.run(caption(folder, out, library, "--sidecar"), capture_output=True, text=True, timeout=300)
    check("the run after the kills finishes", r.returncode == 0, r.stderr[-2000:])
    check("the broken and the huge file are reported and skipped",
          "skipped broken.jpg" in r.stderr and "skipped huge.png" in r.stderr and "pixels" in r.stderr,
          r.stderr[-2000:])
    rows = jsonl(out)
    listed = [row["image"] for row in rows]
    check("the JSONL file has every image exactly once", sorted(listed) == sorted(expected),
          f"{len(listed)} lines, {len(set(listed))} images, expected {len(expected)}")
    kept = library_captions(library)
    check("the library has every image exactly once", set(kept) == expected, f"{len(kept)} of {len(expected)}")
    check("the library and the JSONL agree", all(kept.get(row["image"]) == row["caption"] for row in rows))
    dup = os.path.join(folder, "trip", "day2", "copy-of-img04.png")
    check("the duplicate has the caption of the image it copies", kept.get(dup) == kept.get(images[4]))

    with open(mine) as f:
        check("an existing sidecar is kept", f.read() == "my own caption\n")
    whole = all(open(os.path.splitext(p)[0] + ".txt").read() == kept[p] + "\n" for p in expected if p != images[0])
    check("every other image has its caption in a .txt beside it", whole)
    leftovers = [n for _, _, files in os.walk(folder) for n in files if n.endswith(".tmp")]
    check("no temporary files are left behind", not leftovers, str(leftovers))

    r = subprocess.run(caption(folder, out, library, "--sidecar"), capture_output=True, text=True, timeout=300)
    check("a third run captions nothing again", r.returncode == 0 and "0 captioned, 28 already captioned" in r.stderr
          and len(jsonl(out)) == len(expected), r.stderr[-500:])

    r = subprocess.run(caption(folder, out, library, "--sidecar", "--overwrite"), capture_output=True, text=True)
    with open(mine) as f:
        check("--overwrite replaces an existing sidecar", r.returncode == 0 and f.read() == kept[images[0]] + "\n")

    csv = os.path.join(work, "captions.csv")
    r = subprocess.run(caption(folder, out, library, "--csv", csv), capture_output=True, text=True)
    with open(csv, newline="") as f:
        import csv as csvmodule
        table = list(csvmodule.reader(f))
    check("--csv writes every caption", r.returncode == 0 and table[0] == ["image", "caption"] and
          {row[0]: row[1] for row in table[1:]} == kept, r.stderr[-500:])

    # Conversations the window kept (written here as the window's LibraryStore writes them).
    db = sqlite3.connect(library)
    image_id = db.execute("SELECT id FROM images WHERE path = ?", (images[2],)).fetchone()[0]
    db.execute("INSERT INTO conversations (image_id, title, model, created_at, updated_at) "
               "VALUES (?, 'Count the boats', 'm', 1, 2)", (image_id,))
    conversation_id = db.execute("SELECT MAX(id) FROM conversations").fetchone()[0]
    for seq, (role, text) in enumerate([("user", "How many boats?"), ("assistant", "Three boats.")]):
        db.execute("INSERT INTO messages (conversation_id, seq, role, text, created_at) VALUES (?, ?, ?, ?, 3)",
                   (conversation_id, seq, role, text))
    db.commit()
    db.close()
    r = checks.run("library", "conversations", "--library", library, "--json")
    listed = json.loads(r.stdout) if r.returncode == 0 else []
    check("vqa library conversations lists a kept conversation with its image",
          [(c["id"], c["title"], c["image"], c["messages"]) for c in listed] ==
          [(conversation_id, "Count the boats", images[2], 2)], r.stdout + r.stderr)
    r = checks.run("library", "show", str(conversation_id), "--library", library)
    check("vqa library show writes it as Markdown", r.returncode == 0 and r.stdout.startswith("# Count the boats")
          and f"]({images[2]})" in r.stdout and "**You:** How many boats?" in r.stdout
          and "**Model:** Three boats." in r.stdout, r.stdout + r.stderr)
    r = checks.run("library", "show", str(conversation_id), "--json", "--library", library)
    shown = json.loads(r.stdout) if r.returncode == 0 else {}
    check("... and as JSON", shown.get("messages") == [{"role": "user", "text": "How many boats?"},
                                                         {"role": "assistant", "text": "Three boats."}], r.stdout)
    r = checks.run("library", "show", "999", "--library", library)
    check("an unknown conversation is a clear error", r.returncode == 1 and "no conversation 999" in r.stderr,
          r.stderr)
    r = checks.run("library", "search", "boats", "--library", library, "--json")
    hits = json.loads(r.stdout) if r.returncode == 0 else []
    check("vqa library search finds the conversation", [h["conversation"] for h in hits] == [conversation_id] * 2,
          r.stdout + r.stderr)

    word = next(w for w in kept[images[7]].split() if w.isalpha() and len(w) > 3)
    r = checks.run("library", "search", word, "--library", library, "--json")
    hits = json.loads(r.stdout) if r.returncode == 0 else []
    check(f"vqa library search finds the image by a word of its caption ({word!r})",
          images[7] in [h["image"] for h in hits], r.stdout + r.stderr)

    # Ctrl+C: stops, says how to continue, keeps what was made. Certain, not a race: its error
    # output goes to a pipe of 4 KiB that is not read after the first caption, and the run
    # writes more than that, so it cannot finish before the signal comes.
    folder2 = os.path.join(work, "more")
    make_folder(folder2, 117, seed0=100)
    out2 = os.path.join(work, "more.jsonl")
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(caption(folder2, out2, library), stderr=write_end)
    os.close(write_end)
    reader = os.fdopen(read_end, "r")
    tail = []
    for line in reader:
        tail.append(line)
        if "] captioned " in line:  # the signal handler is in place once captioning runs
            proc.send_signal(signal.SIGINT)
            break
    tail.append(reader.read())
    reader.close()
    proc.wait(timeout=120)
    text = "".join(tail)
    check("Ctrl+C stops the run and says how to continue", proc.returncode == 130 and "run the same command again"
          in text, f"{proc.returncode}: {text[-500:]}")
    made = len(jsonl(out2))
    r = subprocess.run(caption(folder2, out2, library), capture_output=True, text=True, timeout=300)
    check("the run after Ctrl+C finishes the rest", r.returncode == 0 and 0 < made < 118 and len(jsonl(out2)) == 118,
          f"{made} then {len(jsonl(out2))}: {r.stderr[-500:]}")

    # Two processes writing one library at once.
    procs = []
    for name in ("a", "b"):
        f = os.path.join(work, "together", name)
        make_folder(f, 9, seed0=200 if name == "a" else 300)
        procs.append(subprocess.Popen(caption(f, os.path.join(work, f"{name}.jsonl"), library),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stderr.close()
    check("two processes captioning into one library both finish", all(code == 0 for code, _ in results),
          str(results)[-1000:])
    db = sqlite3.connect(library)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    together = db.execute("SELECT COUNT(*) FROM captions c JOIN images i ON i.id = c.image_id "
                          "WHERE i.path LIKE ?", (os.path.join(work, "together") + "/%",)).fetchone()[0]
    db.close()
    check("the library is sound and holds both runs' captions", integrity == "ok" and together == 20,
          f"{integrity}, {together} captions")

    # A caption's given start and avoided words: part of what the captions are kept under.
    folder3 = os.path.join(work, "started")
    make_folder(folder3, 5, seed0=400)  # + a copy: 6 captions
    out3 = os.path.join(work, "started.jsonl")
    r = subprocess.run(caption(folder3, out3, library, "--answer-start", "A photo of"), capture_output=True, text=True)
    rows3 = jsonl(out3) if r.returncode == 0 else []
    check("--answer-start: every caption begins with the given words",
          len(rows3) == 6 and all(row["caption"].startswith("A photo of") for row in rows3), r.stderr[-500:])
    r = subprocess.run(caption(folder3, out3, library, "--answer-start", "A photo of", "--avoid", "zebra"),
                       capture_output=True, text=True)
    check("other avoided words make other captions, not the kept ones",
          r.returncode == 0 and "5 captioned" in r.stderr and len(jsonl(out3)) == 12, r.stderr[-500:])

    # A damaged library is set aside with a message; captioning goes on in a new one.
    with open(library, "r+b") as f:
        f.write(b"garbage" * 100)
    r = subprocess.run(caption(folder2, out2, library), capture_output=True, text=True, timeout=300)
    aside = [n for n in os.listdir(work) if n.startswith("library.db.corrupt-")]
    check("a damaged library is set aside with a clear message, and the run goes on",
          r.returncode == 0 and "damaged" in r.stderr and len(aside) == 1, r.stderr[-500:])
finally:
    shutil.rmtree(work, ignore_errors=True)
checks.finish()
