"""Feature absorption (Chanin et al., arXiv 2409.14507) as SAEBench measures it, with TinySQL's
token labels as the ground truth that first-letter spelling gives there.

Per concept: a logistic probe on the raw stream (fitting rows) gives the concept's direction; the
concept's main latents are the k-sparse probe's (k grows from 1 while the probe's F1 on the fitting
rows jumps by more than F1_JUMP, up to MAX_K, SAEBench's feature-split rule). On the held-out rows
the probe finds (true positives), each row's probe projection is split among the latents
(activation times the decoder row's projection on the probe direction):
- absorption fraction: the share of the projection that other latents aligned with the probe
  (cosine >= COS_FRACTION, at most MAX_ABSORBERS of them) carry instead of the main latents, where
  they carry at least PROPORTION of it (0 otherwise);
- full absorption: no main latent fires, and the latent that projects most on the probe
  (cosine >= COS_FULL) carries at least PROPORTION of the projection alone.
A concept the main latents carry everywhere scores 0 on both. One-layer SAEs only (a decoder row per
latent); a deep SAE's decoder is not a sum of rows.
"""

from __future__ import annotations

import numpy as np
import torch

from causalgear import estimators
from causalgear.features.references import ROW_PROBE_MAX_ITER, k_sparse_probe
from causalgear.features.scoring import best_threshold

# SAEBench's thresholds (sae_bench/evals/absorption)
COS_FULL, COS_FRACTION, PROPORTION, MAX_ABSORBERS = 0.025, 0.1, 0.4, 3
F1_JUMP, MAX_K = 0.03, 5
EPS = 1e-8
# the concepts where a swap of one value for another is measured elsewhere (cause / isolate, steering)
FAMILIES = ("sql.direction", "question.order", "sql.agg", "question.agg")


def main_latents(z_fit: np.ndarray, y_fit: np.ndarray, seed: int) -> list[int]:
    """The k-sparse probe's latents at the k where its F1 on the fitting rows stops jumping."""
    best = k_sparse_probe(z_fit, y_fit, z_fit, y_fit, 1, seed)
    for k in range(2, MAX_K + 1):
        more = k_sparse_probe(z_fit, y_fit, z_fit, y_fit, k, seed)
        if (more["f1"] or 0) - (best["f1"] or 0) <= F1_JUMP:
            break
        best = more
    return best["latents"]


def row_absorption(proj: np.ndarray, cos: np.ndarray, z: np.ndarray, total: float,
                   main: list[int]) -> tuple[float, bool]:
    """(absorption fraction, full absorption) of one row: `proj` each latent's share of the probe
    projection, `cos` each decoder row's cosine with the probe, `total` the row's projection."""
    main_proj = float(proj[main].sum())
    others = np.ones(len(proj), dtype=bool)
    others[main] = False
    candidates = proj[others & (cos >= COS_FRACTION) & (proj > 0)]
    absorbers = float(np.sort(candidates)[::-1][:MAX_ABSORBERS].sum())
    if total <= 0 or main_proj >= total or absorbers / total < PROPORTION:
        fraction = 0.0
    elif main_proj <= 0:
        fraction = 1.0
    else:
        absorbed = min(absorbers, total - main_proj)
        fraction = float(np.clip(absorbed / (absorbed + main_proj), 0.0, 1.0))
    top = int(np.argmax(proj))
    full = bool((z[main] < EPS).all() and cos[top] >= COS_FULL and total > 0 and proj[top] / total >= PROPORTION)
    return fraction, full


def probes(x_fit: np.ndarray, lab_fit: np.ndarray, concepts: list[str], seed: int) -> dict[str, tuple]:
    """Per concept of FAMILIES: its probe on the raw stream, the probe's threshold (best F1 on the
    fitting rows) and its unit direction in the raw stream. Shared by an SAE and its twin."""
    out = {}
    for c, name in enumerate(concepts):
        y_fit = lab_fit[:, c].astype(bool)
        if not name.startswith(FAMILIES) or y_fit.all() or not y_fit.any():
            continue
        probe = estimators.fit_probe(x_fit, y_fit, seed, max_iter=ROW_PROBE_MAX_ITER)
        scaler, lr = probe.named_steps["standardscaler"], probe.named_steps["logisticregression"]
        direction = lr.coef_[0] / scaler.scale_  # the probe's direction in the raw stream
        out[name] = (probe, best_threshold(probe.predict_proba(x_fit)[:, 1], y_fit),
                     direction / np.linalg.norm(direction))
    return out


def absorption(sae, fitted: dict[str, tuple], lab_fit: np.ndarray, x_held: np.ndarray, lab_held: np.ndarray,
               z_fit: np.ndarray, z_held: np.ndarray, concepts: list[str], seed: int) -> dict:
    """Per concept `fitted` (`probes`): main latents, probe true positives, mean absorption fraction
    and full-absorption rate on the held-out rows; and their means over the concepts."""
    if not hasattr(sae, "W_dec"):
        return {"skipped": f"{sae.arch}'s decoder is not one row per latent"}
    with torch.no_grad():
        w_dec = sae.W_dec.detach().cpu().double().numpy()
        origin = sae.decode(torch.zeros(1, sae.d_sae, device=sae.W_dec.device)).cpu().double().numpy()[0]
    per: dict[str, dict] = {}
    for name, (probe, threshold, direction) in fitted.items():
        c = concepts.index(name)
        y_fit, y_held = lab_fit[:, c].astype(bool), lab_held[:, c].astype(bool)
        share = w_dec @ direction
        cos = share / np.maximum(np.linalg.norm(w_dec, axis=1), EPS)
        main = main_latents(z_fit, y_fit, seed)
        hits = np.flatnonzero(y_held & (probe.predict_proba(x_held)[:, 1] >= threshold))
        rows = [row_absorption(z_held[i] * share, cos, z_held[i], float((x_held[i] - origin) @ direction), main)
                for i in hits]
        per[name] = {"main_latents": main, "probe_true_positives": len(hits),
                     "absorption_fraction": float(np.mean([r[0] for r in rows])) if rows else None,
                     "full_absorption": float(np.mean([r[1] for r in rows])) if rows else None}
    scored = [r for r in per.values() if r["absorption_fraction"] is not None]
    return {"per_concept": per, "concepts": len(scored),
            "absorption_fraction": float(np.mean([r["absorption_fraction"] for r in scored])) if scored else None,
            "full_absorption": float(np.mean([r["full_absorption"] for r in scored])) if scored else None}
