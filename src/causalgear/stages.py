"""The pipeline's stages: name, one-line summary, and the function that runs it.

A stage function takes the composed, validated config and its Hydra run dir. Stages are
imported lazily so that `causalgear --help` and config errors never pay for torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    target: str  # "module:function"
    hydra: bool = True  # False: takes its own argparse flags instead of Hydra overrides


STAGES: dict[str, Stage] = {
    s.name: s
    for s in [
        Stage("build-model", "train (or find cached) the embedded TinySQL model",
              "causalgear.models.stages:build_model"),
        Stage("accuracy", "execution accuracy of the model on a data split -> accuracy.json",
              "causalgear.models.stages:accuracy"),
        Stage("harvest", "capture residual-stream activations into the cached store",
              "causalgear.harvest.run:run"),
        Stage("train", "train a sparse autoencoder on the harvested activations", "causalgear.sae.train:train"),
        Stage("evaluate", "rank SAE coordinates by their causal effect on execution accuracy",
              "causalgear.interventions.evaluate:evaluate"),
        Stage("features", "score SAE latents against TinySQL's known concepts -> concepts.json, features.html",
              "causalgear.features.stage:features"),
        Stage("steer", "integrated-gradient (GrAInS) and additive steering of the chosen feature",
              "causalgear.steering.run:steer"),
        Stage("select", "train a candidate SAE and score what it carries on validation data -> selection.json "
              "(a sweep: -m experiment=sae_selection, then compare)", "causalgear.selection:select"),
        Stage("pipeline", "build-model -> harvest -> train -> evaluate -> steer in one run dir, then report.html",
              "causalgear.pipeline:run"),
        Stage("compare", "compare run dirs of a multirun: comparison.csv/.html, pareto.png",
              "causalgear.report.compare:main", hydra=False),
        Stage("summarize", "what a pipeline run found: findings and tables, or docs/results.md (--markdown)",
              "causalgear.report.summarize:main", hydra=False),
        Stage("score", "score Spider-format predictions against gold by execution accuracy",
              "causalgear.data.score_cli:main", hydra=False),
        Stage("data", "generate (or find cached) the configured data set and print its summary",
              "causalgear.data.stage:run"),
        Stage("serve", "HTTP service that generates SQL with feature patching", "causalgear.serve.app:serve"),
    ]
}


def resolve(stage: Stage):
    module, func = stage.target.split(":")
    import importlib

    return getattr(importlib.import_module(module), func)
