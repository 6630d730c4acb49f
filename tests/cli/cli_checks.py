"""What the CLI test scripts share: running `vqa` and counting checks. Each check prints one
line; finish() prints 'N passed, N failed' and exits 1 when any failed."""
import subprocess
import sys


class Checks:
    def __init__(self, vqa):
        self.vqa = vqa
        self.passed = self.failed = 0

    def run(self, *argv, stdin=None):
        return subprocess.run([self.vqa, *argv], input=stdin, capture_output=True, text=True, timeout=300)

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
