"""What holding PyTorch's kernels to another code path costs, side by side: the same stage commands
run under each setting in turn, alternating rounds, each in a fresh process (a setting is read when
torch loads). Reports each setting's seconds as a ratio to the default's in the same round. Ends
with one JSON line. Figures only: how far a setting moves a run's results is bench/run_diff.py's.

  python bench/kernel_paths.py --rounds 2 [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SETTINGS = {"default": {}, "avx2": {"ATEN_CPU_CAPABILITY": "avx2"}, "mkl_compatible": {"MKL_CBWR": "COMPATIBLE"},
            "one_thread": {"OMP_NUM_THREADS": "1"}}
# a stage that trains (the SAE: matrix products and their gradients) and one that generates (the
# model's forward passes, batch by batch): the two kinds of work the pipeline spends its time on
STAGES = [["train", "logger=none"], ["accuracy", "data.eval_split=test_ood"]]


def timed(stage: list[str], env: dict[str, str], cache: str, out: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "causalgear", *stage, f"hydra.run.dir={out}"], check=True,
                   env={**os.environ, "CAUSALGEAR_CACHE": cache, **env}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--cache", default=os.environ.get("CAUSALGEAR_CACHE") or tempfile.mkdtemp())
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as out:
        for stage in STAGES:  # warm: data generated and activations harvested once, outside the timing
            timed(stage, {}, args.cache, f"{out}/warm")
        seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
        for r in range(args.rounds):
            for name, env in SETTINGS.items():
                seconds[name].append(sum(timed(stage, env, args.cache, f"{out}/{name}-{r}") for stage in STAGES))
                print(f"round {r + 1}: {name} {seconds[name][-1]:.1f} s", flush=True)
    ratios = {name: [s / d for s, d in zip(seconds[name], seconds["default"], strict=True)] for name in SETTINGS}
    for name in SETTINGS:
        print(f"{name}: {' '.join(f'{s:.1f}' for s in seconds[name])} s; ratio to default "
              f"{statistics.median(ratios[name]):.3f}")
    print(json.dumps({"stages": [" ".join(s) for s in STAGES], "seconds": seconds,
                      "ratio_to_default": {k: round(statistics.median(v), 3) for k, v in ratios.items()}}))


if __name__ == "__main__":
    main()
