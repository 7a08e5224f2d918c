"""The random-SAE control: the same architecture and shape, frozen random weights, the same k or
thresholds, drawn again identically from its seed."""

import pytest
import torch

from causalgear.sae.random_twin import random_twin
from tests.sae.test_architectures import ARCHS, make


@pytest.mark.parametrize("arch", ARCHS)
def test_the_twin_has_the_trained_sae_s_class_and_shape_and_is_frozen(arch):
    sae = make(arch)
    twin = random_twin(sae, seed=3)
    assert type(twin) is type(sae) and twin.config() == sae.config()
    assert {n: p.shape for n, p in twin.named_parameters()} == {n: p.shape for n, p in sae.named_parameters()}
    assert not any(p.requires_grad for p in twin.parameters()) and not twin.training


@pytest.mark.parametrize("arch", ARCHS)
def test_the_twin_is_redrawn_identically_from_its_seed_and_differs_from_the_trained_sae(arch):
    sae = make(arch)
    a, b, other = random_twin(sae, seed=3), random_twin(sae, seed=3), random_twin(sae, seed=4)
    x = torch.randn(9, 12)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a.encode_pre(x), other.encode_pre(x))
    assert not torch.equal(a.encode_pre(x), sae.encode_pre(x))


@pytest.mark.parametrize("arch", ["relu", "topk", "batchtopk", "matryoshka", "jumprelu"])
def test_a_one_layer_twin_has_unit_decoder_rows_its_encoder_their_transpose_and_the_trained_thresholds(arch):
    sae = make(arch)
    with torch.no_grad():
        for name, t in [*sae.named_parameters(), *sae.named_buffers()]:
            if name.endswith("threshold"):
                t.fill_(0.25)
    twin = random_twin(sae, seed=0)
    torch.testing.assert_close(twin.W_dec.norm(dim=1), torch.ones(sae.d_sae))
    assert torch.equal(twin.W_enc, twin.W_dec.T) and not twin.b_enc.any() and not twin.b_dec.any()
    for name, t in [*twin.named_parameters(), *twin.named_buffers()]:
        if name.endswith("threshold"):
            assert torch.all(t == 0.25), name
    if hasattr(sae, "k"):
        assert twin.k == sae.k


def test_a_run_draws_its_twin_once_from_its_seed_and_measures_its_codes_as_the_sae_s(smoke_sae):
    from causalgear.preflight import compose
    from causalgear.sae.code_stats import coordinate_stats
    from causalgear.seeds import seed_for
    from causalgear.workbench import Workbench

    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="evaluate"), "evaluate")
    assert bench.twin is bench.twin and bench.twin_stats is bench.twin_stats  # every stage shares one
    again = random_twin(bench.sae, seed_for(bench.cfg.seed, "random SAE"))
    for (name, a), (_, b) in zip(bench.twin.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not any(p.requires_grad for p in bench.twin.parameters())
    expected = coordinate_stats(again, bench.store)
    assert all(torch.equal(bench.twin_stats[k], expected[k]) for k in expected)
