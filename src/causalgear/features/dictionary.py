"""A dictionary's detection figures on labelled rows of an activation store."""

from __future__ import annotations

import numpy as np
import torch

from causalgear.data.concepts import BIT
from causalgear.features.scoring import THRESHOLDS, Counts, auroc, best_detectors, high_precision

DENSE = 0.10  # a latent firing on more than this share of tokens is dense


def labelled_rows(store, select, limit: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(activations, concept masks, (example, position, token id)) of the rows `select` keeps, at
    most `limit` of them (seeded)."""
    acts, masks, where = [], [], []
    for i in range(store.n_shards):
        s = store.shard(i)
        keep = select(s)
        acts.append(s["acts"][keep].float())
        masks.append(s["concepts"][keep])
        where.append(torch.stack([s["example"][keep], s["position"][keep], s["token_id"][keep]], -1))
    acts, masks, where = torch.cat(acts), torch.cat(masks), torch.cat(where)
    if len(acts) > limit:
        pick = torch.randperm(len(acts), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        acts, masks, where = acts[pick], masks[pick], where[pick]
    return acts, masks, where


def encode_rows(sae, *rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each set of rows' codes under `sae`, on the CPU (the rows go to the SAE's device)."""
    device = next(sae.parameters()).device
    with torch.no_grad():
        return tuple(sae.encode(x.to(device)).cpu() for x in rows)


def concept_matrix(masks: torch.Tensor, concepts: list[str]) -> torch.Tensor:
    return torch.stack([(masks & BIT[c]) != 0 for c in concepts], -1)


def score_dictionary(z_fit, lab_fit, z_held, lab_held, concepts: list[str]) -> dict:
    """Per latent and per concept detection figures, and the dictionary-wide ones."""
    max_act = z_fit.max(0).values.clamp_min(1e-12)
    fit, held = Counts.of(z_fit, lab_fit, max_act), Counts.of(z_held, lab_held, max_act)
    latent, t_idx, per_latent = best_detectors(fit)
    p_h, r_h, f1_h = held.precision(), held.recall(), held.f1()
    detectors = high_precision(fit, held)
    per_concept = {}
    for c, name in enumerate(concepts):
        j, t = int(latent[c]), int(t_idx[c])
        per_concept[name] = {"latent": j, "threshold": THRESHOLDS[t], "precision": float(p_h[t, j, c]),
                             "recall": float(r_h[t, j, c]), "f1": float(f1_h[t, j, c]),
                             "auroc": auroc(z_held[:, j].numpy(), lab_held[:, c].numpy()),
                             "positives": int(held.positives[c])}
    firing = (z_held > 0).double().mean(0)
    per_latent_rows = []
    for j in range(z_held.shape[1]):
        c, t = (int(v) for v in per_latent[j])
        per_latent_rows.append({
            "latent": j, "firing_rate": float(firing[j]), "mean_activation": float(z_held[:, j].mean()),
            "best_concept": concepts[c], "threshold": THRESHOLDS[t], "precision": float(p_h[t, j, c]),
            "recall": float(r_h[t, j, c]), "f1": float(f1_h[t, j, c]),
            "high_precision_for": [concepts[k] for k in detectors[j]]})
    return {"coverage": float(np.mean([v["f1"] for v in per_concept.values()])),
            "dead_fraction": float((firing == 0).double().mean()),
            "dense_fraction": float((firing > DENSE).double().mean()),
            "per_concept": per_concept, "latents": per_latent_rows}
