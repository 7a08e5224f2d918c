"""A new architecture is one class plus its registration: it trains through the real stage, saves,
loads and patches like the built-in ones."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from causalgear.config import ConfigError
from causalgear.interventions.types import ZeroCode
from causalgear.models.site import Site
from causalgear.preflight import compose, validate
from causalgear.sae import registry
from causalgear.sae.base import Coefficient, SparseAutoencoder
from causalgear.sae.io import load_sae
from causalgear.sae.train import train


class ShrinkSAE(SparseAutoencoder):
    """A toy: one linear layer each way, soft-thresholded codes, and its own extra loss term
    (decoder rows kept near unit norm) beside the L1."""

    arch = saelens_architecture = "toy_shrink"

    def __init__(self, d_in: int, d_sae: int):
        super().__init__(d_in, d_sae)
        self.W_enc = nn.Parameter(torch.randn(d_in, d_sae) / d_in**0.5)
        self.W_dec = nn.Parameter(self.W_enc.detach().T.clone())
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def encode_pre(self, x):
        return x @ self.W_enc

    def activation(self, pre):
        return F.relu(pre - 0.1)

    def decode(self, z):
        return z @ self.W_dec + self.b_dec

    def coefficients(self, sae_cfg):
        return {**super().coefficients(sae_cfg), "row_norm": Coefficient(0.01)}

    def auxiliary_losses(self, x, pre, z, x_hat, dead):
        return {**super().auxiliary_losses(x, pre, z, x_hat, dead),
                "row_norm": (self.W_dec.norm(dim=1) - 1).pow(2).mean()}

    @torch.no_grad()
    def fold_scale(self, scale):
        self.W_enc.mul_(scale)
        self.W_dec.div_(scale)
        self.b_dec.div_(scale)


@pytest.fixture
def toy_registered():
    registry.register("toy_shrink", ShrinkSAE)
    yield
    registry._ARCHITECTURES.pop("toy_shrink")


def test_a_registered_toy_architecture_trains_saves_loads_and_patches(toy_registered, tiny_qwen2_dir, tmp_path):
    cfg = compose(["model=hf", f"model.name_or_path={tiny_qwen2_dir}", "model.layer=1",
                   f"paths.cache_dir={tmp_path / 'cache'}", "sae.arch=toy_shrink", "sae.k=null", "sae.d_sae=16",
                   "sae.epochs=1", "sae.batch_size=64", "sae.ce_examples=4", "logger=none", "data.n_train_per_set=20",
                   "data.n_validation_per_set=2", "data.n_test_per_set=2", "data.n_test_ood_per_set=2",
                   "data.n_schemas=8", "harvest.max_examples=40"])
    validate(cfg)
    out = tmp_path / "run"
    out.mkdir()
    metrics = train(cfg, out)
    assert metrics["arch"] == "toy_shrink" and metrics["d_sae"] == 16 and metrics["steps"] > 0
    logged = (out / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert "train/row_norm" in logged and "train/l1" in logged  # its own term, logged like the built-in ones
    sae, saved = load_sae(out)
    assert isinstance(sae, ShrinkSAE) and saved["causalgear"]["arch"] == "toy_shrink"

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir).eval()
    ids = AutoTokenizer.from_pretrained(tiny_qwen2_dir)(["SELECT a FROM t"], return_tensors="pt").input_ids
    site = Site(model, 1)
    h = site.run(ids)
    z = sae.encode(h)
    j = int((z > 0).float().sum((0, 1)).argmax())
    with ZeroCode(site, sae, j).applied({"example_index": torch.arange(1)}):
        patched = site.run(ids)
    z_new = z.clone()
    z_new[..., j] = 0
    torch.testing.assert_close(patched - h, sae.decode(z_new) - sae.decode(z), rtol=1e-5, atol=1e-6)


def test_an_unregistered_architecture_is_refused_naming_the_registered_ones():
    with pytest.raises(ConfigError, match=r"sae.arch='mystery' is not allowed: one of relu, topk, deep_relu, "
                                          r"deep_topk, jumprelu, batchtopk, matryoshka \(causalgear.sae.registry\)"):
        validate(compose(["sae.arch=mystery"]))


def test_k_is_asked_of_topk_architectures_only():
    with pytest.raises(ConfigError, match=r"sae.k=None is not allowed: an integer > 0: topk keeps k"):
        validate(compose(["sae=topk", "sae.k=null"]))
    with pytest.raises(ConfigError, match=r"sae.k=64 is not allowed: null: deep_relu has no k \(its width is sae"):
        validate(compose(["sae=deep_relu", "sae.k=64"]))
