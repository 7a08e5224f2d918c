"""Integrated-gradient completeness error and time by baseline embedding and step count, side by side.

    python bench/ig_baselines.py sae.path=outputs/pipeline/DATE/TIME/train [--feature J] [--prompts 20]

On the first `--prompts` prompts of the held-out test split, with the model's own unsteered SQL
as the response, F is attributed against each baseline (zero, pad, mean) at 16, 32 and 64 steps.
Ends with one JSON line: the mean, median and max completeness error of each, and its seconds as a
ratio to the pad baseline's at 64 steps (the step counts of one baseline run back to back).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from bench_common import attribution_setup


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feature", type=int, default=None, help="default: evaluate's choice beside the train run")
    p.add_argument("--prompts", type=int, default=20)
    args, overrides = p.parse_known_args()

    from causalgear.preflight import compose
    from causalgear.steering.methods.grains import Steerer

    _, bench, feature, examples, responses = attribution_setup(overrides, args.feature, args.prompts)
    out: dict = {"feature": feature, "prompts": len(examples)}
    for baseline in ("zero", "pad", "mean"):
        for steps in (16, 32, 64):
            run_cfg = compose([*overrides, f"steering.grains.baseline={baseline}", f"steering.grains.n_steps={steps}"])
            steerer = Steerer(run_cfg.steering, bench.tokenizer, bench.sae, bench.site, feature)
            began = time.perf_counter()
            atts = [steerer.attribute(e.prompt, r) for e, r in zip(examples, responses, strict=True)]
            seconds = time.perf_counter() - began
            errors = [a.completeness_error for a in atts if a.completeness_error is not None]
            out[f"{baseline}_{steps}"] = {"mean": round(float(np.mean(errors)), 4),
                                          "median": round(float(np.median(errors)), 4),
                                          "max": round(float(np.max(errors)), 4), "seconds": seconds}
    reference = out["pad_64"]["seconds"]
    for v in out.values():
        if isinstance(v, dict):
            v["time_vs_pad_64"] = round(v.pop("seconds") / reference, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
