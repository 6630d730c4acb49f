#!/usr/bin/env python3
"""Tokens per second of our tokenizer (bench_tokenizer binary) vs Python `tokenizers` on
the corpus make_tokenizers.py writes. Prints one JSON object.

  python bench_tokenizer.py --model DIR --corpus build/reference/tokenizers/corpus.json \
      --binary build/bench_tokenizer [--repeats 20]

The binary is not part of the default build; make it from a configured build folder with
  g++ -O2 -std=c++20 -I. tests/bench/bench_tokenizer.cpp build/engine/libvqa_engine.a \
      -lpcre2-8 -lsentencepiece -o build/bench_tokenizer
"""
import argparse
import json
import subprocess
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    from tokenizers import Tokenizer

    corpus = json.load(open(args.corpus, encoding="utf-8"))
    t0 = time.perf_counter()
    tok = Tokenizer.from_file(f"{args.model}/tokenizer.json")
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    cold = sum(len(tok.encode(s, add_special_tokens=False).ids) for s in corpus)
    cold_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    n = 0
    for _ in range(args.repeats):
        for s in corpus:
            n += len(tok.encode(s, add_special_tokens=False).ids)
    warm_s = time.perf_counter() - t2
    t3 = time.perf_counter()
    nb = 0
    for _ in range(args.repeats):
        nb += sum(len(e.ids) for e in tok.encode_batch(corpus, add_special_tokens=False))
    batch_s = time.perf_counter() - t3
    python = {"load_seconds": load_s, "tokens_per_pass": cold, "cold_tokens_per_second": cold / cold_s,
              "tokens_per_second": n / warm_s, "encode_batch_tokens_per_second": nb / batch_s}
    ours = json.loads(subprocess.run([args.binary, args.model, args.corpus, str(args.repeats)],
                                     check=True, capture_output=True, text=True).stdout)
    print(json.dumps({"ours": ours, "python_tokenizers": python,
                      "speedup_single_thread": ours["tokens_per_second"] / python["tokens_per_second"]},
                     indent=1))


if __name__ == "__main__":
    main()
