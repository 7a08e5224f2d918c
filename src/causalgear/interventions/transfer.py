"""Does a coordinate chosen on one data set move accuracy on another? The monosemanticity test.

`transfer` in the config maps a name to a data config (TinySQL with other command sets, Spider,
...). For each, the coordinate `evaluate` chose, a random coordinate and a random direction of
the same norm are patched on that data's held-out prompts, each with a paired bootstrap interval,
so the effect where the coordinate was chosen and where it was not stand side by side.
"""

from __future__ import annotations

import random

from omegaconf import open_dict

from causalgear.data.loading import load_split
from causalgear.data.sources import source
from causalgear.interventions.controls import with_controls
from causalgear.interventions.factory import Interventions
from causalgear.interventions.measures import counterfactual_codes
from causalgear.interventions.specs import code_spec
from causalgear.workbench import Workbench


def transfer_effects(bench: Workbench, chosen: int, control_j: int) -> dict[str, dict]:
    """{name: {data, n, baseline_accuracy, chosen, random_coordinate, random_direction}} (or {skipped})."""
    cfg, c = bench.cfg, bench.cfg.causal
    out: dict[str, dict] = {}
    for name, data in (cfg.get("transfer") or {}).items():
        target = source(data, cfg.paths.cache_dir)
        why = target.unavailable()
        if why is not None:
            out[name] = {"data": target.describe(), "skipped": why}
            print(f"transfer {name}: skipped: {why}")
            continue
        t_cfg = cfg.copy()
        with open_dict(t_cfg):
            t_cfg.data = data
        pool = load_split(t_cfg)
        examples = [pool[i] for i in sorted(random.Random(cfg.seed).sample(range(len(pool)), min(c.n_test, len(pool))))]
        cf = (counterfactual_codes(bench.tokenizer, bench.sae, bench.site, examples, pool, cfg.seed)
              if c.mode == "interchange" else None)
        made = Interventions(bench.site, bench.sae, bench.stats, cf)
        runner = bench.runner(examples, data=data)
        base, _ = runner.correct()
        intervals = with_controls(runner, base, made.make(code_spec(c.mode, chosen, c.scale)),
                                  made.make(code_spec(c.mode, control_j, c.scale)), c.n_boot, cfg.seed)
        row = {"data": target.describe(), "n": len(examples), "decoding": "schema" if runner.contexts else "free",
               "baseline_accuracy": float(base.mean()),
               **{key: iv.as_dict() for key, iv in zip(("chosen", "random_coordinate", "random_direction"),
                                                       intervals, strict=True)}}
        row["random_coordinate"]["coordinate"] = control_j
        out[name] = row
        r = row["chosen"]
        print(f"transfer {name} ({row['data']}): baseline {row['baseline_accuracy']:.3f}; coordinate {chosen}: delta "
              f"{r['delta']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]")
    return out
