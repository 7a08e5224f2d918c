"""Detection figures against hand-computed values on a planted toy case; the floor's model."""

import numpy as np
import pytest
import torch

from causalgear.features.dictionary import score_dictionary
from causalgear.features.references import diffmean, k_sparse_probe, linear_probe, random_copy
from causalgear.features.scoring import THRESHOLDS, Counts, auroc, high_precision

# concept A on rows 0-2, concept B on rows 4-5; latent 0 is planted on A, latent 1 half-detects B
LABELS = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 0], [0, 1], [0, 1], [0, 0], [0, 0]], dtype=torch.bool)
Z = torch.tensor([[2.0, 0], [1, 0], [3, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]])


def test_precision_recall_f1_and_coverage_match_a_hand_computation():
    counts = Counts.of(Z, LABELS, Z.max(0).values)
    t0 = THRESHOLDS.index(0.0)
    assert counts.tp[t0].tolist() == [[3, 0], [0, 1]] and counts.fired[t0].tolist() == [3, 2]
    scored = score_dictionary(Z, LABELS, Z, LABELS, ["A", "B"])
    a, b = scored["per_concept"]["A"], scored["per_concept"]["B"]
    assert (a["latent"], a["precision"], a["recall"], a["f1"]) == (0, 1.0, 1.0, 1.0)
    # latent 1 fires on rows 4 and 6: one of its two firings is B, and one of B's two rows is caught
    assert (b["latent"], b["precision"], b["recall"], b["f1"]) == (1, 0.5, 0.5, 0.5)
    assert scored["coverage"] == 0.75
    # AUROC of latent 1 for B: the positive at 1 beats 5 negatives and ties one (5.5), the positive
    # at 0 ties 5 negatives (2.5): 8 of 2 x 6 pairs
    assert b["auroc"] == pytest.approx(8 / 12)
    assert scored["latents"][0]["best_concept"] == "A" and scored["latents"][1]["best_concept"] == "B"
    assert scored["dead_fraction"] == 0.0 and scored["dense_fraction"] == 1.0  # both fire on over 10% of rows


def test_a_higher_threshold_drops_the_weak_firings():
    counts = Counts.of(Z, LABELS, Z.max(0).values)
    t = THRESHOLDS.index(0.5)  # latent 0 above 1.5: rows 0 and 2 only
    assert counts.fired[t].tolist() == [2, 2] and counts.recall()[t, 0, 0] == pytest.approx(2 / 3)


def test_high_precision_detectors_need_the_precision_and_the_firings():
    counts = Counts.of(Z, LABELS, Z.max(0).values)
    assert high_precision(counts, counts, precision=0.95, min_firings=2) == [[0], []]
    assert high_precision(counts, counts, precision=0.95, min_firings=4) == [[], []]


def test_auroc_of_one_class_is_undefined():
    assert auroc(np.array([0.1, 0.2]), np.array([True, True])) is None


def test_the_references_find_a_planted_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = x[:, 2] + 0.1 * rng.normal(size=400) > 0.8
    fit, held = slice(0, 300), slice(300, 400)
    probe = linear_probe(x[fit], y[fit], x[held], y[held])
    assert probe["f1"] > 0.85 and probe["auroc"] > 0.95
    dm = diffmean(x[fit], y[fit], x[held], y[held])
    assert dm["auroc"] > 0.95
    sparse = k_sparse_probe(x[fit], y[fit], x[held], y[held], k=1)
    assert sparse["latents"] == [2] and sparse["f1"] > 0.85


def test_the_floor_model_has_the_architecture_and_fresh_random_weights(tiny_qwen2):
    model, _ = tiny_qwen2
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = random_copy(model, seed=3)
    theirs = copy.state_dict()
    assert theirs.keys() == before.keys() and all(theirs[k].shape == v.shape for k, v in before.items())
    weights = [k for k, v in before.items() if v.dim() == 2]
    assert all(not torch.equal(theirs[k], before[k]) for k in weights)  # every matrix re-drawn
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the model itself untouched
    again = random_copy(model, seed=3).state_dict()
    assert all(torch.equal(again[k], theirs[k]) for k in weights)  # seeded
