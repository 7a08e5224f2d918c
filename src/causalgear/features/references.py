"""What a dictionary's detectors are compared with, on the same rows: a linear probe on the raw
residual (the ceiling), the DiffMean direction (AxBench's strong simple baseline), k-sparse
probes on the top latents, and the same SAE recipe on a randomly initialised model (the floor).
Each is fitted on the fitting rows and scored on the held-out rows."""

from __future__ import annotations

import numpy as np
import torch

from causalgear import estimators
from causalgear.features.scoring import auroc, best_threshold, f1_at

# the row probes (tens of thousands of rows, C = 1): the iteration cap the coverage figures were
# measured with (the question probes, on a few hundred prompts, allow 5000)
ROW_PROBE_MAX_ITER = 500


def linear_probe(x_fit, y_fit, x_held, y_held, seed: int = 0, where_held=None) -> dict:
    """Logistic regression on the activations: F1 and AUROC on the held-out rows, at the probability
    threshold with the best F1 on the fitting rows (a rare concept's best is far from 0.5). With
    `where_held` ((example, position) per held-out row), also where its errors fall (`misses`)."""
    if y_fit.all() or not y_fit.any():
        return {"f1": None, "auroc": None}
    probe = estimators.fit_probe(x_fit, y_fit, seed, max_iter=ROW_PROBE_MAX_ITER)
    threshold = best_threshold(probe.predict_proba(x_fit)[:, 1], y_fit)
    p = probe.predict_proba(x_held)[:, 1]
    out = {"f1": f1_at(p, y_held, threshold), "auroc": auroc(p, y_held)}
    if where_held is not None:
        out["misses"] = misses(p >= threshold, np.asarray(y_held, dtype=bool), np.asarray(where_held))
    return out


NEAR = 2  # tokens: a false positive this close to a labelled token of its example reads the same phrase
# where a false positive falls (misses' shares, in this order)
PLACES = ("near_a_label", "elsewhere_in_its_example", "in_examples_without_it")


def misses(predicted: np.ndarray, y: np.ndarray, where: np.ndarray) -> dict:
    """Where a probe's false positives fall, to tell a label placed on the wrong tokens from a
    concept the stream does not hold: within NEAR tokens of a labelled token of the same example
    (the phrase's neighbours carry it too: the labels are too narrow), elsewhere in an example that
    has the concept, or in an example without it (a real confusion). Shares of the false positives."""
    examples, positions = where[:, 0], where[:, 1]
    labelled: dict[int, np.ndarray] = {}
    for e in np.unique(examples[y]):
        labelled[int(e)] = positions[y & (examples == e)]
    counts = np.zeros(len(PLACES))
    for i in np.flatnonzero(predicted & ~y):
        at = labelled.get(int(examples[i]))
        counts[2 if at is None else 0 if np.abs(at - positions[i]).min() <= NEAR else 1] += 1
    fp = int(counts.sum())
    return {"false_positives": fp, "false_negatives": int((~predicted & y).sum()), "positives": int(y.sum()),
            **{place: round(float(n) / fp, 4) if fp else None for place, n in zip(PLACES, counts, strict=True)}}


def diffmean(x_fit, y_fit, x_held, y_held) -> dict:
    """The mean activation with the concept minus without, as a detector: its projection's
    threshold is chosen for F1 on the fitting rows."""
    if y_fit.all() or not y_fit.any():
        return {"f1": None, "auroc": None}
    direction = estimators.diffmean(x_fit[y_fit], x_fit[~y_fit])
    threshold = best_threshold(x_fit @ direction, y_fit)
    scores = x_held @ direction
    return {"f1": f1_at(scores, y_held, threshold), "auroc": auroc(scores, y_held)}


def k_sparse_probe(z_fit, y_fit, z_held, y_held, k: int, seed: int = 0) -> dict:
    """A probe on the k latents whose mean activation differs most with and without the concept
    (k-sparse probing, Gurnee et al. 2023)."""
    if y_fit.all() or not y_fit.any():
        return {"f1": None, "auroc": None, "latents": []}
    gap = np.abs(estimators.diffmean(z_fit[y_fit], z_fit[~y_fit]))
    top = np.argsort(-gap, kind="stable")[:k]
    out = linear_probe(z_fit[:, top], y_fit, z_held[:, top], y_held, seed)
    return {**out, "latents": top.tolist()}


def random_copy(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """The same architecture with freshly initialised weights (the floor's model)."""
    torch.manual_seed(seed)
    config = model.config
    copy = type(model)(config).to(next(model.parameters()).device).eval()
    copy.requires_grad_(False)
    return copy
