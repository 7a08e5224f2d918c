"""Candidate latents for steering: GrAInS' contrastive objective ranks them, generation on selection chooses."""

from dataclasses import replace

import numpy as np
import torch

from causalgear.interventions.attribution import attribution_scores
from causalgear.preflight import compose
from causalgear.steering.candidates import contrastive_latents
from causalgear.steering.run import steer
from causalgear.workbench import Workbench


def test_the_ranking_is_log_p_gold_minus_log_p_written_under_a_raise_and_lowering_reverses_it(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    examples = bench.splits().select
    correct, preds = bench.runner(examples).correct()
    assert (correct == 0).any()
    wrong = [i for i, c in enumerate(correct) if not c and preds[i].strip()]
    raised = lambda z: bench.stats["mean_active"].to(z).expand_as(z)  # noqa: E731
    gold = attribution_scores(bench.tokenizer, bench.sae, [examples[i] for i in wrong], bench.site, raised)
    written = attribution_scores(bench.tokenizer, bench.sae, [replace(examples[i], sql=preds[i]) for i in wrong],
                                 bench.site, raised)
    d = bench.sae.d_sae
    up = contrastive_latents(bench, examples, preds, correct, d)
    assert up == torch.argsort(gold - written, descending=True).tolist() and sorted(up) == list(range(d))
    assert contrastive_latents(bench, examples, preds, correct, 2, sign=-1.0) == up[::-1][:2]
    assert contrastive_latents(bench, examples, preds, np.ones(len(examples)), 3) == []  # nothing to repair


def test_the_sae_methods_choose_a_latent_among_the_feature_and_its_candidates(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[1.0,4.0]",
                   "steering.methods.clamps=[3.0]", "steering.html_examples=2", "steering.target.split=null",
                   "steering.methods.candidates=2", "steering.methods.conditional=false",
                   "steering.concepts.targets=[]",
                   "steering.methods.extra=[clamp]"])
    result = steer(cfg, tmp_path)
    latents = result["candidate_latents"]
    assert latents[0] == 2 and len(latents) == 3 and len(set(latents)) == 3
    for name, grid in (("additive", [1.0, 4.0]), ("clamp", [3.0])):
        m = result["methods"][name]
        assert [(c["latent"], c["scale"]) for c in m["selection_curve"][1:]] == [(j, v) for j in latents for v in grid]
        best = max(c["accuracy"] for c in m["selection_curve"][1:])
        chosen = next(c for c in m["selection_curve"][1:] if (c["latent"], c["scale"]) == (m["latent"], m["scale"]))
        assert chosen["accuracy"] == best
    assert result["methods"]["grains"]["latent"] == 2  # IG is per latent: grains stays on the feature
