"""`causalgear pipeline`: every stage in order, in one run dir, then report.html.

build-model (cached) -> harvest (cached) -> train -> evaluate -> steer (the coordinate evaluate
chose) -> the top tokens of the most frequent coordinates -> report.html.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, open_dict

from causalgear.io import write_json


def feature_tokens(cfg: DictConfig, out_dir: Path) -> dict:
    """features.json: the top-activating harvested tokens of the `report.features` most frequent codes."""
    from causalgear.harvest.run import ensure_store
    from causalgear.interventions.causal import coordinate_stats, top_tokens_per_coordinate
    from causalgear.models.loading import load_tokenizer
    from causalgear.sae.io import load_sae
    from causalgear.sae.paths import sae_dir

    sae, _ = load_sae(sae_dir(cfg.sae.path))
    store, _ = ensure_store(cfg)
    stats = coordinate_stats(sae, store)
    order = stats["firing_rate"].argsort(descending=True)[:cfg.report.features].tolist()
    top = top_tokens_per_coordinate(sae, store, order, load_tokenizer(cfg.model, cfg.paths.cache_dir),
                                    cfg.report.tokens_per_coordinate)
    result = {"tokens_per_coordinate": cfg.report.tokens_per_coordinate,
              "coordinates": [{"coordinate": j, "firing_rate": float(stats["firing_rate"][j]), "top": top[j]}
                              for j in order]}
    write_json(out_dir / "features.json", result)
    return result


def run(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.harvest.run import run as harvest
    from causalgear.interventions.causal import evaluate
    from causalgear.models.stages import build_model
    from causalgear.report.page import write_report
    from causalgear.sae.train import refuse_relaunching_strategy_in_a_sweep, train
    from causalgear.steering.run import steer

    refuse_relaunching_strategy_in_a_sweep(cfg)  # before the model and the harvest, not at train
    timings: dict[str, float] = {}
    summary: dict = {}

    def step(name: str, fn, sub: str | None) -> dict:
        d = out_dir / sub if sub else out_dir
        d.mkdir(parents=True, exist_ok=True)
        print(f"== {name}")
        start = time.monotonic()
        result = fn(cfg, d)
        timings[name] = round(time.monotonic() - start, 1)
        return result

    if cfg.model.name_or_path == "embedded":
        card = step("build-model", build_model, "model")
        summary["model_test_accuracy"] = card["test_accuracy_mean"]
        summary["model_test_accuracy_per_set"] = card["test_accuracy"]
    summary["harvest"] = step("harvest", harvest, "harvest")
    metrics = step("train", train, "train")
    summary["sae"] = {k: metrics.get(k) for k in ("arch", "k", "l1_coeff", "explained_variance", "l0", "density",
                                                   "dead_fraction", "ce_loss_recovered")}
    with open_dict(cfg):
        cfg.sae.path = str(out_dir / "train")
    causal = step("evaluate", evaluate, "evaluate")
    summary["causal"] = {k: causal[k] for k in ("chosen", "chosen_test", "controls", "verdict")}
    with open_dict(cfg):
        if cfg.steering.feature is None:
            cfg.steering.causal_path = str(out_dir / "evaluate")
    steering = step("steer", steer, "steer")
    summary["steering"] = {name: {"scale": m["scale"], **{k: m["test"][k] for k in (
        "baseline_accuracy", "steered_accuracy", "delta", "ci_low", "ci_high", "changed_share")}}
        for name, m in steering["methods"].items()}
    if cfg.report.features > 0:
        step("features", feature_tokens, None)
    summary["seconds"] = timings
    write_json(out_dir / "pipeline.json", summary)
    report = write_report(out_dir, cfg, summary)
    print(f"pipeline: {', '.join(f'{k} {v}s' for k, v in timings.items())}")
    print(f"report: {report}")
    return summary
