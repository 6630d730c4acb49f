"""The application killed (SIGKILL) while it captions a folder loses at most the caption in
progress: `vqa-studio --caption FOLDER` on the tiny checkpoint, offscreen, with its own home,
killed once the library holds a few captions; the library is sound and still holds every
caption seen before the kill; started again, it captions the rest, none twice, and leaves the
earlier captions as they were. Prints one line per check and 'N passed, N failed'."""
import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from cli_checks import Checks, png, tiny_model  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--studio", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/idefics3")
args = parser.parse_args()

model = tiny_model(args.reference)
checks = Checks(args.studio)
check = checks.check


work = tempfile.mkdtemp(prefix="vqa-studio-kill-")
try:
    folder = os.path.join(work, "photos")
    os.makedirs(folder)
    count = 40
    for i in range(count):
        with open(os.path.join(folder, f"p{i:02d}.png"), "wb") as f:
            f.write(png(24 + i % 5, 20 + i % 3, i + 3))
    env = dict(os.environ, HOME=os.path.join(work, "home"), XDG_DATA_HOME=os.path.join(work, "data"),
               XDG_CONFIG_HOME=os.path.join(work, "config"), XDG_CACHE_HOME=os.path.join(work, "cache"),
               QT_QPA_PLATFORM="offscreen", VQA_NO_DIALOGS="1")
    library = os.path.join(work, "data", "vqa-studio", "library.db")
    command = [args.studio, "--new-window", "--model", model, "--caption", folder]

    def captions():
        """(image path, caption id, text, created_at) rows, or None while there is no library."""
        if not os.path.exists(library):
            return None
        db = sqlite3.connect(f"file:{library}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT i.path, c.id, c.text, c.created_at FROM captions c "
                              "JOIN images i ON i.id = c.image_id ORDER BY i.path").fetchall()
        except sqlite3.OperationalError:  # the tables are not made yet
            return None
        finally:
            db.close()

    def wait_for(n, proc, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            rows = captions()
            if rows is not None and len(rows) >= n:
                return rows
            time.sleep(0.02)
        return captions()

    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = wait_for(5, app) or []
    # Hold the library's write lock, then kill: the window is then certainly mid-run, at the
    # latest with its next caption made and waiting to be written. That caption is what the
    # kill may lose; nothing written before it.
    lock = sqlite3.connect(library, timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    at_kill = lock.execute("SELECT COUNT(*) FROM captions").fetchone()[0]
    app.send_signal(signal.SIGKILL)
    app.wait(timeout=30)
    lock.execute("ROLLBACK")
    lock.close()
    err = app.stderr.read().decode(errors="replace")
    app.stderr.close()
    check("the window captioned a few images before it was killed", len(seen) >= 5, f"{len(seen)} rows: {err[-1500:]}")
    print(f"     (killed with {at_kill} of {count} images captioned)")

    db = sqlite3.connect(library, timeout=10)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    after_kill = captions() or []
    check("the library is sound after the kill", integrity == "ok", integrity)
    check("every caption written before the kill is still there",
          set(r[1] for r in seen) <= set(r[1] for r in after_kill) and len(after_kill) == at_kill,
          f"{len(seen)} seen, {at_kill} at the kill, {len(after_kill)} after")

    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    final = wait_for(count, app) or []
    app.send_signal(signal.SIGKILL)
    app.wait(timeout=30)
    app.stderr.close()
    paths = [r[0] for r in final]
    check("started again, it captions the rest: every image once",
          len(final) == count and len(set(paths)) == count, f"{len(final)} rows, {len(set(paths))} images")
    before = {r[1]: r for r in after_kill}
    check("the captions from before the kill are left as they were",
          all(before[r[1]] == r for r in final if r[1] in before) and
          len([r for r in final if r[1] in before]) == len(after_kill))
finally:
    shutil.rmtree(work, ignore_errors=True)
checks.finish()
