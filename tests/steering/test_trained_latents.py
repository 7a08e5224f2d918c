"""Trained latents: the SAE latents whose decoder directions lower the selection prompts' gold SQL
loss fastest, their amounts trained on it; the same on the random-weight twin is its control."""

import numpy as np
import pytest
import torch

from causalgear.data.loading import load_split
from causalgear.preflight import compose
from causalgear.steering.arms import ArmMaker
from causalgear.steering.methods.base import twin
from causalgear.steering.methods.context import SteerContext
from causalgear.steering.methods.trained_latents import TrainedLatents, latent_directions
from causalgear.steering.methods.trained_vector import gold_sql_loss, loss_gradient, train_vector
from causalgear.workbench import Workbench

FAST = ["steering.target.feature=2", "steering.methods.trained.steps=5", "steering.methods.trained.latents=3"]


def _ctx(overrides: list[str]) -> SteerContext:
    bench = Workbench.load(compose([*overrides, *FAST], stage="steer"), "steer")
    examples = load_split(bench.cfg, "validation")[:8]
    arm = ArmMaker(bench, None).make("selection", examples, base=np.zeros(len(examples)), preds=[""] * len(examples))
    return SteerContext.of(bench, 2, [2], "validation", {"selection": arm})


def test_a_one_layer_sae_s_latent_directions_are_its_decoder_rows(smoke_sae):
    overrides, _ = smoke_sae
    sae = Workbench.load(compose(overrides, stage="steer"), "steer").sae
    assert torch.allclose(latent_directions(sae), sae.W_dec, atol=1e-6)
    assert torch.equal(latent_directions(sae, chunk=3), latent_directions(sae))  # decoded a few at a time


def test_the_loss_gradient_is_the_slope_of_the_gold_sql_loss(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    examples = load_split(bench.cfg, "validation")[:6]
    grad = loss_gradient(bench.model, bench.tokenizer, bench.site, examples, "all", bench.sae.d_in, batch_size=4)
    u = torch.nn.functional.normalize(torch.randn(bench.sae.d_in, generator=torch.Generator().manual_seed(0)), dim=0)
    eps = 1e-2
    with torch.no_grad():
        up, down = (float(gold_sql_loss(bench.model, bench.tokenizer, bench.site, examples, "all", s * eps * u))
                    for s in (1, -1))
    assert (up - down) / (2 * eps) == pytest.approx(float(grad @ u), rel=0.05, abs=1e-4)


def test_the_latents_kept_are_those_with_the_largest_output_effect_and_v_lies_in_their_span(smoke_sae):
    overrides, _ = smoke_sae
    ctx = _ctx(overrides)
    method = TrainedLatents(ctx)
    bench, examples = ctx.bench, list(ctx.arms["selection"].examples)
    dirs = latent_directions(bench.sae)
    unit = dirs / dirs.norm(dim=-1, keepdim=True)
    effect = -(unit @ loss_gradient(bench.model, bench.tokenizer, bench.site, examples, "all", bench.sae.d_in))
    assert method.latents == effect.abs().argsort(descending=True)[:3].tolist()
    # v is the latents' directions at their trained amounts, and nothing else
    assert torch.allclose(method.vector, torch.tensor(method.amounts) @ unit[method.latents], atol=1e-5)
    again = TrainedLatents(ctx)
    assert torch.equal(method.vector, again.vector)  # seeded
    with torch.no_grad():
        before, after = (float(gold_sql_loss(bench.model, bench.tokenizer, bench.site, examples, "all", v))
                         for v in (torch.zeros_like(method.vector), method.vector))
    assert after < before
    assert method.described() == {"moved_latents": method.latents, "trained_amounts": method.amounts,
                                  "trained_on": len(examples)}


def test_a_basis_trains_its_coefficients_alone(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    examples = load_split(bench.cfg, "validation")[:8]
    basis = torch.linalg.qr(torch.randn(bench.sae.d_in, 2, generator=torch.Generator().manual_seed(1))).Q.T
    c = train_vector(bench.model, bench.tokenizer, bench.site, examples, "all", steps=5, lr=0.05, seed=0, basis=basis)
    assert c.shape == (2,) and float(c.norm()) > 0


def test_its_twin_draws_on_the_random_twin_and_there_is_none_without_one(smoke_sae):
    overrides, _ = smoke_sae
    ctx = _ctx(overrides)
    method = TrainedLatents(ctx)
    control = twin(method)
    unit = latent_directions(ctx.bench.twin)
    unit = unit / unit.norm(dim=-1, keepdim=True)
    assert control.ctx.on_twin and control.ctx.sae is ctx.bench.twin
    assert torch.allclose(control.vector, torch.tensor(control.amounts) @ unit[control.latents], atol=1e-5)
    assert not torch.allclose(control.vector, method.vector)
    assert twin(control) is None  # a twin has no twin of its own
    assert twin(TrainedLatents(_ctx([*overrides, "causal.random_sae=false"]))) is None
