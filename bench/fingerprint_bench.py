"""Cost of the content fingerprints (paramem.fingerprint): SHA-256 throughput on a file of
--size-mb (just written, so read from the page cache: the hashing cost, not the disk's),
and the cost of a cache hit (a stat and the cache file's read) on the same file.

    python bench/fingerprint_bench.py [--size-mb 1024] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from paramem.fingerprint import DigestCache, path_fingerprint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--hits", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        block = os.urandom(1 << 20)
        with open(model / "model.safetensors", "wb") as f:
            for _ in range(args.size_mb):
                f.write(block)
        cache_file = Path(tmp) / "cache" / "fingerprints.json"
        start = time.perf_counter()
        path_fingerprint(model, DigestCache(cache_file))  # miss: hashes the file (page cache warm)
        miss_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.hits):
            path_fingerprint(model, DigestCache(cache_file))  # hit: stat + cache file read
        hit_s = (time.perf_counter() - start) / args.hits
    out = {"size_mb": args.size_mb, "miss_s": round(miss_s, 3), "hash_mb_per_s": round(args.size_mb / miss_s, 1),
           "hit_ms": round(hit_s * 1e3, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
