"""What the CLI test scripts share: running `vqa` and counting checks (each check prints one
line; finish() prints 'N passed, N failed' and exits 1 when any failed), the tiny checkpoint
they run, and PNG files made without an image library."""
import os
import struct
import subprocess
import sys
import zlib


def tiny_model(reference):
    """<reference>/tiny_untied/model (make_idefics3.py's); exits 77 (skipped), saying why, when
    it is not there."""
    model = os.path.join(reference, "tiny_untied", "model")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        print(f"SKIP: no test model at {model}; run tests/reference/make_idefics3.py")
        sys.exit(77)
    return model


def png(width, height, seed):
    """An RGB PNG of a pattern `seed` chooses."""
    rows = b"".join(b"\x00" + bytes((x * seed + y * 7 + seed * 13) % 256 for x in range(width * 3))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


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
