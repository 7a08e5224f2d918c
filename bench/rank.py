"""Ranking SAE coordinates: attribution patching against exhaustive patching, side by side.

Both rank the same coordinates on the same prompts: attribution patching with one backward
pass per batch, exhaustive patching by generating and scoring SQL under each coordinate's
ablation. Prints both times, their ratio, and the Spearman correlation of the attribution
scores with the measured accuracy changes (`spearman`; undefined when no ablation changes any
verdict) and with the measured change of the gold SQL's log-likelihood, the quantity
attribution estimates (`spearman_loglik`, one teacher-forced forward per coordinate, timed
apart). Ends with one JSON line.

  python bench/rank.py sae.path=outputs/train/DATE/TIME [--prompts 50] [--coords N]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch
from tqdm.auto import tqdm


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--prompts", type=int, default=50)
    p.add_argument("--coords", type=int, default=0, help="rank only the first N coordinates (0: all)")
    args, overrides = p.parse_known_args()

    from causalgear.data.loading import load_split
    from causalgear.interventions.attribution import attribution_scores, spearman
    from causalgear.interventions.factory import Interventions
    from causalgear.interventions.specs import ZeroLatent
    from causalgear.models.teacher_forcing import prompt_sql_batch, sql_loss_sum
    from causalgear.preflight import compose
    from causalgear.workbench import Workbench

    bench = Workbench.load(compose(overrides), "bench")
    cfg, model, tokenizer, sae = bench.cfg, bench.model, bench.tokenizer, bench.sae
    examples = load_split(cfg)
    examples = [examples[i] for i in sorted(random.Random(cfg.seed).sample(range(len(examples)), args.prompts))]
    coords = list(range(args.coords or sae.d_sae))
    made = Interventions(bench.site, sae, bench.stats)

    start = time.perf_counter()
    scores = attribution_scores(tokenizer, sae, examples, bench.site, made.code_delta("zero"))
    attribution_s = time.perf_counter() - start

    runner = bench.runner(examples)
    base, _ = runner.correct()
    deltas = []
    start = time.perf_counter()
    for j in tqdm(coords, desc="exhaustive patching", unit="coord"):
        treated, _ = runner.correct(made.make(ZeroLatent(j)))
        deltas.append(float(np.mean(treated - base)))
    exhaustive_s = time.perf_counter() - start
    rho = spearman([float(scores[j]) for j in coords], deltas)

    ids, mask, labels = prompt_sql_batch(tokenizer, examples, next(model.parameters()).device)
    rows = {"example_index": torch.arange(len(examples))}
    base_ll = -sql_loss_sum(model, ids, mask, labels) / len(examples)
    ll_deltas = []
    start = time.perf_counter()
    for j in tqdm(coords, desc="log-likelihood patching", unit="coord"):
        with made.make(ZeroLatent(j)).applied(rows):
            ll_deltas.append(-sql_loss_sum(model, ids, mask, labels) / len(examples) - base_ll)
    loglik_s = time.perf_counter() - start
    rho_ll = spearman([float(scores[j]) for j in coords], ll_deltas)
    result = {"d_sae": sae.d_sae, "coords": len(coords), "prompts": len(examples), "attribution_s": attribution_s,
              "exhaustive_s": exhaustive_s, "speedup": exhaustive_s / attribution_s, "spearman": rho,
              "loglik_patching_s": loglik_s, "spearman_loglik": rho_ll,
              "coords_changing_accuracy": int(sum(d != 0 for d in deltas))}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
