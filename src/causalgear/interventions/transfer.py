"""Does a coordinate chosen on one data set move accuracy on another? The monosemanticity test.

`transfer` in the config maps a name to a data config (TinySQL with other command sets, Spider,
...). For each, the coordinate `evaluate` chose, a random coordinate and a random direction of
the same norm are patched on that data's held-out prompts, each with a paired bootstrap interval,
so the effect where the coordinate was chosen and where it was not stand side by side.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from omegaconf import DictConfig, open_dict


def unavailable(data: DictConfig) -> str | None:
    """Why a transfer data set cannot be loaded here, or None."""
    if data.name == "spider" and data.source == "local":
        spider_dir = data.spider_dir
        if spider_dir is None or not (Path(os.path.expanduser(str(spider_dir))) / "tables.json").is_file():
            return (f"Spider not found (data.spider_dir={spider_dir!r}; set CAUSALGEAR_SPIDER or "
                    f"transfer.NAME.spider_dir)")
    return None


def describe(data: DictConfig) -> str:
    if data.name == "tinysql":
        return f"tinysql {'+'.join(data.command_sets)} ({data.eval_split})"
    return f"{data.name} ({data.eval_split})"


def transfer_effects(cfg: DictConfig, model, tokenizer, sae, layer: int, site: str, chosen: int, control_j: int,
                     make_patch, n_test: int) -> dict[str, dict]:
    """{name: {data, n, baseline_accuracy, chosen, random_coordinate, random_direction}} (or {skipped})."""
    from causalgear.data.loading import load_split
    from causalgear.interventions.causal import Runner, counterfactual_codes, with_controls

    out: dict[str, dict] = {}
    for name, data in (cfg.get("transfer") or {}).items():
        why = unavailable(data)
        if why is not None:
            out[name] = {"data": describe(data), "skipped": why}
            print(f"transfer {name}: skipped: {why}")
            continue
        t_cfg = cfg.copy()
        with open_dict(t_cfg):
            t_cfg.data = data
        pool = load_split(t_cfg)
        examples = [pool[i] for i in sorted(random.Random(cfg.seed).sample(range(len(pool)), min(n_test, len(pool))))]
        cf = (counterfactual_codes(model, tokenizer, sae, examples, pool, layer, site, cfg.seed)
              if cfg.causal.mode == "interchange" else None)
        runner = Runner(t_cfg, model, tokenizer, examples, layer, site)
        base, _ = runner.correct()
        intervals = with_controls(runner, base, make_patch(chosen, cf), make_patch(control_j, cf), sae.d_in,
                                  cfg.causal.n_boot, cfg.seed)
        row = {"data": describe(data), "n": len(examples), "baseline_accuracy": float(base.mean()),
               **{key: iv.as_dict() for key, iv in zip(("chosen", "random_coordinate", "random_direction"),
                                                       intervals, strict=True)}}
        row["random_coordinate"]["coordinate"] = control_j
        out[name] = row
        c = row["chosen"]
        print(f"transfer {name} ({row['data']}): baseline {row['baseline_accuracy']:.3f}; coordinate {chosen}: delta "
              f"{c['delta']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]")
    return out
