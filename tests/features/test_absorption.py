"""Feature absorption as SAEBench measures it: on rows with the concept, a latent other than the
concept's main latent carries the probe's projection while the main latent is silent."""

import numpy as np
import pytest
import torch

from causalgear.features.absorption import absorption, probes, row_absorption
from causalgear.sae.relu import ReLUSAE

D_IN, N = 8, 4000
E = torch.eye(D_IN)


def planted_sae(absorbs: bool) -> ReLUSAE:
    """Latent 0 is the concept's (decoder e0); latent 1 reads a token feature e1 that also occurs
    without the concept, and writes e0 + e1. With `absorbs`, latent 0 is silenced where e1 is present:
    latent 1 has absorbed the concept on those rows."""
    sae = ReLUSAE(D_IN, 4)
    with torch.no_grad():
        sae.W_dec.copy_(torch.stack([E[0], (E[0] + E[1]) / 2 ** 0.5, E[2], E[3]]))
        sae.W_enc.copy_(torch.stack([E[0] - (10 * E[1] if absorbs else 0), E[1], E[2], E[3]]).T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval().requires_grad_(False)


def rows(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, labels [n, 1], where e1 is present): the concept in half the rows; e1 in 30% of the rows
    with the concept and 50% of those without."""
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(N, generator=g) < 0.5
    token = torch.where(y, torch.rand(N, generator=g) < 0.3, torch.rand(N, generator=g) < 0.5)
    x = 0.05 * torch.randn(N, D_IN, generator=g) + y[:, None] * E[0] + token[:, None] * E[1]
    return x.numpy(), y.numpy()[:, None], token.numpy()


@pytest.mark.parametrize("absorbs", [True, False])
def test_a_planted_absorber_is_found_on_the_rows_it_absorbs_and_only_there(absorbs):
    sae = planted_sae(absorbs)
    x_fit, lab_fit, _ = rows(0)
    x_held, lab_held, token = rows(1)
    z_fit, z_held = (sae.encode(torch.as_tensor(x)).numpy() for x in (x_fit, x_held))
    concepts = ["sql.direction.desc"]
    result = absorption(sae, probes(x_fit, lab_fit, concepts, 0), lab_fit, x_held, lab_held, z_fit, z_held,
                        concepts, 0)
    r = result["per_concept"]["sql.direction.desc"]
    assert r["main_latents"] == [0]
    expected = token[lab_held[:, 0]].mean() if absorbs else 0.0  # the rows where e1 silenced latent 0
    assert r["probe_true_positives"] > 0.95 * lab_held.sum()
    assert r["absorption_fraction"] == pytest.approx(expected, abs=0.03)
    assert r["full_absorption"] == pytest.approx(expected, abs=0.03)
    assert result["absorption_fraction"] == r["absorption_fraction"] and result["concepts"] == 1


def test_one_row_follows_saebench_s_thresholds():
    cos = np.array([1.0, 0.7, 0.05, 0.7])
    z = np.array([0.0, 1.0, 1.0, 0.0])
    # main latent silent, latent 1 carries 0.7 of a projection of 1: full absorption, fraction 1
    assert row_absorption(np.array([0.0, 0.7, 0.3, 0.0]), cos, z, 1.0, [0]) == (1.0, True)
    # the main latent carries it all: none
    assert row_absorption(np.array([1.0, 0.0, 0.0, 0.0]), cos, np.array([1.0, 0, 0, 0]), 1.0, [0]) == (0.0, False)
    # the other latent carries under 40% of the projection: none
    assert row_absorption(np.array([0.0, 0.3, 0.0, 0.0]), cos, z, 1.0, [0]) == (0.0, False)
    # the main latent carries half, an aligned latent the rest: partial absorption, not full
    fraction, full = row_absorption(np.array([0.5, 0.5, 0.0, 0.0]), cos, np.array([1.0, 1.0, 0, 0]), 1.0, [0])
    assert fraction == pytest.approx(0.5) and not full
    # a latent too far from the probe (cosine 0.05 < 0.1) is no absorber
    assert row_absorption(np.array([0.0, 0.0, 0.9, 0.0]), cos, z, 1.0, [0])[0] == 0.0


def test_a_deep_sae_is_skipped_with_its_reason():
    from causalgear.sae.deep_relu import DeepReLUSAE

    sae = DeepReLUSAE(D_IN, 4, [6])
    assert "not one row per latent" in absorption(sae, {}, None, None, None, None, None, [], 0)["skipped"]
