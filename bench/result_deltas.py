"""The paired bootstrap behind the pages' deltas: what one comparison costs, shortcut vs drawing item indices.

    .venv/bin/python bench/result_deltas.py [--items 200 1000 5000] [--docs 2000] [--repeats 3] [--smoke]

For 0/1 metrics (acc, acc_norm, pref_acc) training/result_deltas.py draws
each resample's (won, tied, lost) counts as one multinomial; the baseline,
measured in the same run, draws item indices (RESAMPLES × n) as a textbook
paired bootstrap does. Both intervals are printed, and must agree within
Monte Carlo error. The perplexity comparison (documents drawn by index, no
shortcut) is timed on its own. Timings are process CPU time, best of the
repeats. Prints one JSON object last; ``--smoke`` runs small sizes and exits
non-zero when the intervals disagree or a clear gain is not significant.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.services.result_deltas import RESAMPLES, SEED, binary_interval, perplexity_intervals  # noqa: E402


def index_interval(mine: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """The baseline: resample item indices, the same ones for both models."""
    index = np.random.default_rng(SEED).integers(0, len(mine), size=(RESAMPLES, len(mine)))
    low, high = np.percentile((mine[index] - theirs[index]).mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def best_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[200, 1000, 5000])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.docs, args.repeats = [200], 100, 1
    rng = np.random.default_rng(0)
    figures, ok = {"resamples": RESAMPLES, "binary": []}, True
    for n in args.items:
        mine, theirs = (rng.random(n) < 0.62).astype(np.int8), (rng.random(n) < 0.5).astype(np.int8)
        shortcut, baseline = binary_interval(mine.tolist(), theirs.tolist()), index_interval(mine, theirs)
        agree = all(abs(a - b) < 0.02 for a, b in zip(shortcut, baseline))
        significant = shortcut[0] > 0 if n >= 1000 else True  # +0.12 on 1,000 items is far outside the noise
        ok = ok and agree and significant
        seconds = best_seconds(lambda: binary_interval(mine.tolist(), theirs.tolist()), args.repeats)
        base_seconds = best_seconds(lambda: index_interval(mine, theirs), args.repeats)
        figures["binary"].append({
            "items": n, "interval": [round(v, 4) for v in shortcut], "baseline_interval": [round(v, 4) for v in baseline],
            "ms": round(seconds * 1000, 2), "baseline_ms": round(base_seconds * 1000, 2),
            "speedup": round(base_seconds / max(seconds, 1e-9), 1),
        })  # fmt: skip
    words = rng.integers(50, 400, size=args.docs).astype(float)
    ll = -words * rng.normal(4.0, 0.5, size=args.docs)
    seconds = best_seconds(lambda: perplexity_intervals((ll + 0.1 * words).tolist(), ll.tolist(), words.tolist(),
                                                        (words * 6).tolist()), args.repeats)  # fmt: skip
    figures["perplexity"] = {"docs": args.docs, "ms": round(seconds * 1000, 1)}
    figures["ok"], figures["smoke"] = ok, args.smoke
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
