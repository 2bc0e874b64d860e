"""GGUF header read time: the app's reader (``backends.llama.gguf.read_gguf``, gguf's tables,
its own skipping walk) vs ``gguf.GGUFReader`` (the maintained package's full reader), same
files, same run, alternated. Run: ``nice -n 10 python bench/gguf_header.py [--runs 3]``."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.llama import read_gguf  # noqa: E402
from backends.models import QWEN, SMOLLM2, shipped_gguf_path  # noqa: E402


def _time(fn, path: Path) -> float:
    t0 = time.perf_counter()
    fn(path)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1] / "data"))
    args = p.parse_args()
    import gguf

    read_gguf(shipped_gguf_path(SMOLLM2, Path(args.data_dir)))  # imports and table set-up
    results = {}
    for model in (SMOLLM2, QWEN):
        path = shipped_gguf_path(model, Path(args.data_dir))
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(_time(read_gguf, path))
            theirs.append(_time(gguf.GGUFReader, path))
        results[path.name] = {
            "app_median_s": round(statistics.median(ours), 3),
            "gguf_reader_median_s": round(statistics.median(theirs), 3),
            "gguf_reader_over_app": round(statistics.median(theirs) / statistics.median(ours), 1),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
