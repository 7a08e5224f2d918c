"""Integrated gradients for GrAInS: prompts attributed one at a time against several prompts' points
sharing a pass (`steering.grains.internal_batch_size` rows), on one run's SAE and coordinate, side
by side in one process. Prints the time ratio and the largest attribution difference, then one
JSON line.

    python bench/attribution.py sae.path=<run>/train [--prompts 128] [--rows 64 128 256 512]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from bench_common import attribution_setup

from causalgear.preflight import compose
from causalgear.steering.methods.grains import Steerer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--rows", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--feature", type=int, default=None)
    args, overrides = parser.parse_known_args()
    cfg, bench, feature, examples, responses = attribution_setup(overrides, args.feature, args.prompts)
    prompts = [e.prompt for e in examples]

    def attributed(rows: int, together: bool) -> tuple[float, list]:
        run_cfg = compose([*overrides, f"steering.grains.internal_batch_size={rows}"])
        steerer = Steerer(run_cfg.steering, bench.tokenizer, bench.sae, bench.site, feature)
        began = time.perf_counter()
        if together:
            out = steerer.attribute_many(prompts, responses, progress=False)
        else:
            out = [steerer.attribute(p, r) for p, r in zip(prompts, responses, strict=True)]
        return time.perf_counter() - began, out

    one_rows = cfg.steering.grains.n_steps + 2  # a prompt's points, itself and the baseline: one pass each
    alone_s, alone = attributed(one_rows, together=False)
    out: dict = {"feature": feature, "prompts": len(prompts), "one_prompt_a_pass_s": round(alone_s, 2)}
    for rows in args.rows:
        seconds, together = attributed(rows, together=True)
        diff = max(float((a.attributions - b.attributions).abs().max()) for a, b in zip(alone, together, strict=True))
        same = sum(torch.equal(a.tokens, b.tokens) for a, b in zip(alone, together, strict=True))
        out[f"rows_{rows}"] = {"time_vs_one_prompt_a_pass": round(seconds / alone_s, 3),
                               "max_abs_attribution_difference": diff, "same_perturbed_tokens": same}
        print(f"{rows} rows a pass: {seconds / alone_s:.3f} of one prompt a pass; "
              f"perturbed tokens the same for {same}/{len(prompts)} prompts", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
