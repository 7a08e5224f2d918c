"""Each SAE figure of the features stage beside its random-SAE twin (`causalgear.sae.random_twin`):
the dictionary's coverage and its k-sparse probing, per concept on the same held-out rows, with a
paired bootstrap interval (over concepts) of trained minus random. A figure is a finding only
where that interval lies above zero."""

from __future__ import annotations

import numpy as np

from causalgear.features import references as ref
from causalgear.features.dictionary import encode_rows, score_dictionary
from causalgear.interventions.statistics import paired_bootstrap

N_BOOT = 2000


def against(trained: list[float | None], random: list[float | None], seed: int) -> dict:
    """Mean of each over the concepts both score, and the paired interval of trained minus random."""
    pairs = [(t, r) for t, r in zip(trained, random, strict=True) if t is not None and r is not None]
    if not pairs:
        return {"trained": None, "random": None, "delta": None, "ci_low": None, "ci_high": None, "n": 0,
                "finding": False}
    t, r = np.array(pairs).T
    iv = paired_bootstrap(r, t, N_BOOT, seed)
    return {"trained": float(t.mean()), "random": float(r.mean()), **iv.as_dict(), "finding": iv.low > 0}


def coverage_against_twin(twin, x_fit, lab_fit, x_held, lab_held, concepts: list[str], trained: dict,
                          seed: int) -> tuple[dict, tuple]:
    """The twin's coverage beside the trained SAE's (`trained`: score_dictionary's result), and the
    twin's codes of the fitting and held-out rows."""
    r_fit, r_held = encode_rows(twin, x_fit, x_held)
    scored = score_dictionary(r_fit, lab_fit, r_held, lab_held, concepts)
    out = {"drawn": "the architecture's constructor at the trained shape; one-layer SAEs: unit-norm Gaussian "
                    "decoder rows, the encoder their transpose, zero biases; the trained k and thresholds; frozen",
           "coverage": against([trained["per_concept"][c]["f1"] for c in concepts],
                               [scored["per_concept"][c]["f1"] for c in concepts], seed),
           "dead_fraction": scored["dead_fraction"], "dense_fraction": scored["dense_fraction"]}
    return out, (r_fit, r_held)


def random_sae_figures(twin, x_fit, lab_fit, x_held, lab_held, concepts: list[str], trained: dict, refs: dict,
                       seed: int) -> dict:
    """The twin's (`Workbench.twin`) coverage and k-sparse probing beside the trained SAE's (`trained`:
    score_dictionary's result; `refs`: each concept's k-sparse probes of the trained SAE)."""
    out, (r_fit, r_held) = coverage_against_twin(twin, x_fit, lab_fit, x_held, lab_held, concepts, trained, seed)
    zf, zh, yf, yh = r_fit.numpy(), r_held.numpy(), lab_fit.numpy(), lab_held.numpy()
    out["k_sparse_coverage"] = {
        k: against([refs[c][f"k_sparse_{k}"]["f1"] for c in concepts],
                   [ref.k_sparse_probe(zf, yf[:, i], zh, yh[:, i], k, seed)["f1"] for i, c in enumerate(concepts)],
                   seed)
        for k in (1, 2, 5)}
    return out
