"""`causalgear pipeline`: the stages in order, in one run dir.

build-model (cached) -> harvest (cached) -> train -> evaluate. Steering and the report page
are later issues; the pipeline says so at the end rather than skipping them silently.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, open_dict

from causalgear.io import write_json

NOT_YET = ("steer (GrAInS and additive steering)", "report.html")


def run(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.harvest.run import run as harvest
    from causalgear.interventions.causal import evaluate
    from causalgear.models.stages import build_model
    from causalgear.sae.train import train

    timings: dict[str, float] = {}
    summary: dict = {}

    def step(name: str, fn, sub: str) -> dict:
        d = out_dir / sub
        d.mkdir(parents=True, exist_ok=True)
        print(f"== {name}")
        start = time.monotonic()
        result = fn(cfg, d)
        timings[name] = round(time.monotonic() - start, 1)
        return result

    if cfg.model.name_or_path == "embedded":
        card = step("build-model", build_model, "model")
        summary["model_test_accuracy"] = card["test_accuracy"]
    summary["harvest"] = step("harvest", harvest, "harvest")
    metrics = step("train", train, "train")
    summary["sae"] = {k: metrics[k] for k in ("arch", "k", "l1_coeff", "explained_variance", "l0", "density",
                                               "dead_fraction", "ce_loss_recovered")}
    with open_dict(cfg):
        cfg.sae.path = str(out_dir / "train")
    causal = step("evaluate", evaluate, "evaluate")
    summary["causal"] = {k: causal[k] for k in ("chosen", "chosen_test", "controls", "verdict")}
    summary["seconds"] = timings
    summary["not_built_yet"] = list(NOT_YET)
    write_json(out_dir / "pipeline.json", summary)
    print(f"pipeline: {', '.join(f'{k} {v}s' for k, v in timings.items())}")
    print(f"not built yet (later issues): {', '.join(NOT_YET)}")
    return summary
