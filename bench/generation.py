"""Greedy SQL generation time by batch size, and by decoder, side by side, with the outputs compared.

    python bench/generation.py [--prompts 200] [--sizes 16,32,64,128,256] [--alphas 0.5,2,8] [overrides]

Generates SQL for the first `--prompts` prompts of the held-out test split (unsteered, and steered
by adding the SAE's most active latent at every position, as steering does, at each of `--alphas`)
at each batch size, in turn, twice (the second pass reported: the first warms the allocator). Then,
at `generation.batch_size`, the greedy loop that drops ended rows (`models.generate`) against
`model.generate` for the same batches, also for every alpha's point generated together (a grid);
and each of these generated again with its prompt passes replayed (`models.prefix`) against computed.
Ends with one JSON line: each size's seconds as a ratio to 32's (the default before 128), the
loop's seconds as a ratio to `model.generate`'s, the replayed seconds as a ratio to the computed,
and how many outputs differ (0: they change time, not answers).
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=200)
    p.add_argument("--sizes", default="16,32,64,128,256")
    p.add_argument("--alphas", default="0.5,2,8")
    args, overrides = p.parse_known_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if 32 not in sizes:
        sizes.insert(0, 32)

    from causalgear.preflight import compose
    from causalgear.workbench import Workbench

    cfg = compose(overrides)
    if cfg.sae.path is None:  # unsteered only
        from causalgear.models.loading import load_model

        model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
        steered = {}
    else:
        from causalgear.interventions.factory import Interventions
        from causalgear.interventions.specs import AddLatent

        bench = Workbench.load(cfg, "bench")
        model, tokenizer = bench.model, bench.tokenizer
        latent = int(bench.stats["firing_rate"].argmax())
        made = Interventions(bench.site, bench.sae, bench.stats)
        steered = {f"steered {a}": made.make(AddLatent(latent, float(a))) for a in args.alphas.split(",")}
    from causalgear.data.loading import load_split
    from causalgear.models.generate import generate_sql

    prompts = [e.prompt for e in load_split(cfg, cfg.data.eval_split)[:args.prompts]]
    out: dict = {"prompts": len(prompts), "model": cfg.model.name}
    for label, intervention in {"unsteered": None, **steered}.items():
        seconds, preds = {}, {}
        for _ in range(2):
            for bs in sizes:
                began = time.perf_counter()
                preds[bs] = generate_sql(model, tokenizer, prompts, batch_size=bs, intervention=intervention)
                seconds[bs] = time.perf_counter() - began
        out[label] = {str(bs): {"time_vs_32": round(seconds[bs] / seconds[32], 3),
                                "outputs_differing_from_32": sum(a != b for a, b in zip(preds[bs], preds[32],
                                                                                       strict=True))}
                      for bs in sizes}
    cases = {label: (prompts, intervention) for label, intervention in {"unsteered": None, **steered}.items()}
    if steered:  # a grid's points generated together, as steering searches one (some outputs end, some run on)
        from causalgear.interventions.types import Stacked

        cases["steered grid"] = (prompts * len(steered), Stacked(list(steered.values()), [len(prompts)] * len(steered)))
    out["decoder"] = decoders(model, tokenizer, cases, cfg.generation.batch_size)
    out["prompt_pass_replay"] = replays(model, tokenizer, cases, cfg.generation.batch_size)
    print(json.dumps(out))


def replays(model, tokenizer, cases: dict, batch_size: int) -> dict:
    """Each case generated again with its prompt passes remembered (`models.prefix`: the blocks before
    the edited one replayed) against computed, alternated, twice; `cases`: label -> (prompts,
    intervention). The first remembered call fills the memory and is not timed."""
    from causalgear.models.generate import generate_sql
    from causalgear.models.prefix import prompt_prefixes

    out = {}
    for label, (prompts, intervention) in cases.items():
        prompt_prefixes(model, 1024).clear()  # an empty memory for each case
        generate_sql(model, tokenizer, prompts, batch_size=batch_size, intervention=intervention,
                     prefix_cache_mb=1024)
        seconds, preds = {}, {}
        for _ in range(2):
            for mb in (0, 1024):
                began = time.perf_counter()
                preds[mb] = generate_sql(model, tokenizer, prompts, batch_size=batch_size, intervention=intervention,
                                         prefix_cache_mb=mb)
                seconds[mb] = time.perf_counter() - began
        out[label] = {"replayed_time_vs_computed": round(seconds[1024] / seconds[0], 3),
                      "outputs_differing": sum(a != b for a, b in zip(preds[1024], preds[0], strict=True))}
    return out


def decoders(model, tokenizer, cases: dict, batch_size: int) -> dict:
    """The greedy loop against `model.generate` (what `generate_sql` falls back to), alternated, twice;
    `cases`: label -> (prompts, intervention)."""
    from unittest import mock

    from causalgear.models import generate

    out = {}
    for label, (prompts, intervention) in cases.items():
        seconds, preds = {}, {}
        for _ in range(2):
            for decoder in ("model.generate", "loop"):
                with mock.patch.object(generate, "_plain_greedy", lambda _m, d=decoder: d == "loop"):
                    began = time.perf_counter()
                    preds[decoder] = generate.generate_sql(model, tokenizer, prompts, batch_size=batch_size,
                                                           intervention=intervention)
                    seconds[decoder] = time.perf_counter() - began
        out[label] = {"loop_time_vs_generate": round(seconds["loop"] / seconds["model.generate"], 3),
                      "outputs_differing": sum(a != b for a, b in zip(preds["loop"], preds["model.generate"],
                                                                      strict=True))}
    return out


if __name__ == "__main__":
    main()
