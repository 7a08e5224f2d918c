"""`causalgear pipeline`: every stage in order, in one run dir, then report.html.

build-model (cached) -> harvest (cached) -> train -> evaluate -> steer (the coordinate evaluate
chose) -> features (latents against known concepts) -> the further SAE seeds (`sae.seeds`: each
trained from the same harvest and measured on what depends on the SAE, `causalgear.reseed`) -> the
top tokens of the most frequent coordinates -> report.html.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, open_dict

from causalgear.io import write_json
from causalgear.seeds import sae_seeds

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


def _steered(m: dict) -> dict:
    """A steering method's summary line: its scale and test figures, its twin's beside them."""
    keys = ("baseline_accuracy", "steered_accuracy", "delta", "ci_low", "ci_high", "changed_share")
    twin = {"twin": _steered(m["twin"])} if "twin" in m else {}
    return {"scale": m["scale"], **{k: m["test"][k] for k in keys}, **twin}


def feature_tokens(bench: Workbench, out_dir: Path) -> dict:
    """features.json: the top-activating harvested tokens of the `report.features` most frequent codes."""
    from causalgear.sae.code_stats import top_tokens_per_coordinate

    r = bench.cfg.report
    order = bench.stats["firing_rate"].argsort(descending=True)[:r.features].tolist()
    top = top_tokens_per_coordinate(bench.sae, bench.store, order, bench.tokenizer, r.tokens_per_coordinate)
    result = {"tokens_per_coordinate": r.tokens_per_coordinate,
              "coordinates": [{"coordinate": j, "firing_rate": float(bench.stats["firing_rate"][j]), "top": top[j]}
                              for j in order]}
    write_json(out_dir / "features.json", result)
    return result


def run(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.harvest.run import run as harvest
    from causalgear.interventions.evaluate import evaluate_on
    from causalgear.models.stages import build_model
    from causalgear.provenance import provenance
    from causalgear.report.page import write_report
    from causalgear.report.scoreboard import scoreboard
    from causalgear.report.tables import print_table, scoreboard_table
    from causalgear.sae.train import refuse_relaunching_strategy_in_a_sweep, train
    from causalgear.steering.run import steer_on
    from causalgear.workbench import Workbench

    refuse_relaunching_strategy_in_a_sweep(cfg)  # before the model and the harvest, not at train
    # the code that runs is the checkout's now: a commit made while the run works is not its
    origin = provenance("pipeline", cfg.model.name)
    timings: dict[str, float] = {}
    summary: dict = {}

    def step(name: str, fn, sub: str | None, *args) -> dict:
        d = out_dir / sub if sub else out_dir
        d.mkdir(parents=True, exist_ok=True)
        print(f"== {name}")
        start = time.monotonic()
        result = fn(*args, d)
        timings[name] = round(time.monotonic() - start, 1)
        return result

    from causalgear.data.sources import of

    lacks = of(cfg).lacks()
    if lacks:  # said once, before the work: what this data set cannot give, and so what is not run
        summary["skipped"] = {what: f"no {cap.replace('_', ' ')}" for cap, what in lacks.items()}
        print(f"data={cfg.data.name} skips: " + "; ".join(f"{k} ({v})" for k, v in summary["skipped"].items()))
    if cfg.model.name_or_path == "embedded":
        card = step("build-model", build_model, "model", cfg)
        summary["model_test_accuracy"] = card["test_accuracy_mean"]
        summary["model_test_accuracy_per_set"] = card["test_accuracy"]
    summary["harvest"] = step("harvest", harvest, "harvest", cfg)
    metrics = step("train", train, "train", cfg)
    summary["sae"] = {k: metrics.get(k) for k in ("arch", "d_sae", "k", "l1_coeff", "explained_variance", "l0",
                                                   "density", "dead_fraction", "ce_loss_recovered")}
    with open_dict(cfg):
        cfg.sae.path = str(out_dir / "train")
    # model, SAE, store and statistics loaded once for evaluate, steer and the features
    bench = step("load", lambda c, _d: Workbench.load(c, "pipeline"), None, cfg)
    causal = step("evaluate", evaluate_on, "evaluate", bench)
    summary["causal"] = {k: causal[k] for k in ("chosen", "chosen_test", "controls", "verdict")}
    steering = step("steer", lambda b, d: steer_on(b, d, chosen=causal["chosen"], causal=causal), "steer", bench)
    summary["steering"] = {split or cfg.data.eval_split: {name: _steered(m) for name, m in r["methods"].items()}
                           for split, r in {steering["data_split"]: steering,
                                            **(steering.get("other_splits") or {})}.items()}
    if bench.store.manifest.get("concepts_known"):
        from causalgear.features.stage import features_on

        keys = ("skipped", "coverage", "linear_probe_coverage", "diffmean_coverage", "dead_fraction", "dense_fraction")
        scored = step("features", features_on, "features", bench)
        summary["features"] = {k: v for k, v in scored.items() if k in keys}
    seeds = sae_seeds(cfg)
    if len(seeds) > 1:
        from causalgear.reseed import reseed_on

        reseeded = step("sae-seeds", reseed_on, "seeds", bench, seeds, causal)
        summary["sae_seeds"] = {"seeds": seeds, "stability": {k: v for k, v in reseeded["stability"].items()
                                                              if k != "pairs"},
                                "findings": {k: {f: v[f] for f in ("held", "seeds", "low", "high")}
                                             for k, v in reseeded["findings"].items()}}
    if cfg.report.features > 0:
        step("top-tokens", feature_tokens, None, bench)
    summary["seconds"] = timings
    summary["provenance"] = origin
    write_json(out_dir / "pipeline.json", summary)
    report = write_report(out_dir, cfg, summary)
    print(f"pipeline: {', '.join(f'{k} {v}s' for k, v in timings.items())}")
    print(f"report: {report}")
    print_table(scoreboard_table(scoreboard(out_dir)))
    print(f"the findings and every table: causalgear summarize {out_dir}")
    return summary
