"""How well latents detect known concepts: the board-game SAE measures, on tensors.

A latent j detects concept c at threshold t when z_j > t * max_j (max over the fitting rows);
thresholds 0, 0.1, ..., 0.9 as in Karvonen et al. 2024. Choices (the latent and threshold of
each concept) are made on fitting rows and reported on held-out rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(10))


@dataclass
class Counts:
    """True positives, firings and positives, per (threshold, latent, concept)."""

    tp: torch.Tensor  # [T, J, C]
    fired: torch.Tensor  # [T, J]
    positives: torch.Tensor  # [C]

    @classmethod
    def of(cls, z: torch.Tensor, labels: torch.Tensor, max_act: torch.Tensor) -> Counts:
        """`z` [N, J] codes, `labels` [N, C] bool, `max_act` [J] each latent's scale."""
        lab = labels.double()
        tp, fired = [], []
        for t in THRESHOLDS:
            fires = (z > t * max_act).double()
            tp.append(fires.T @ lab)
            fired.append(fires.sum(0))
        return cls(torch.stack(tp), torch.stack(fired), lab.sum(0))

    def precision(self) -> torch.Tensor:
        return self.tp / self.fired.unsqueeze(-1).clamp_min(1)

    def recall(self) -> torch.Tensor:
        return self.tp / self.positives.clamp_min(1)

    def f1(self) -> torch.Tensor:
        p, r = self.precision(), self.recall()
        return (2 * p * r / (p + r).clamp_min(1e-12)).nan_to_num(0.0)


def best_detectors(fit: Counts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per concept, the (latent, threshold index) with the best F1 on the fitting rows, and per
    latent the (concept, threshold index) with its best F1: ([C], [C], [J, 2])."""
    f1 = fit.f1()  # [T, J, C]
    t_n, j_n, c_n = f1.shape
    flat = f1.permute(2, 1, 0).reshape(c_n, -1).argmax(-1)  # per concept over (latent, threshold)
    latent, threshold = flat // t_n, flat % t_n
    per_latent = f1.permute(1, 2, 0).reshape(j_n, -1).argmax(-1)  # per latent over (concept, threshold)
    return latent, threshold, torch.stack([per_latent // t_n, per_latent % t_n], -1)


def high_precision(fit: Counts, held: Counts, precision: float = 0.95, min_firings: int = 10) -> list[list[int]]:
    """Per latent, the concepts it detects with precision >= `precision` and at least `min_firings`
    firings on the held-out rows, at the threshold that is most precise (with as many firings) on
    the fitting rows."""
    p_fit = fit.precision().masked_fill((fit.fired < min_firings).unsqueeze(-1), -1.0)  # [T, J, C]
    t_best = p_fit.argmax(0)  # [J, C]
    p_held = held.precision().gather(0, t_best.unsqueeze(0)).squeeze(0)
    fired_held = held.fired.T.gather(1, t_best)  # [J, C]
    ok = (p_held >= precision) & (fired_held >= min_firings)
    return [torch.nonzero(row).flatten().tolist() for row in ok]


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (None where the rows hold one class only)."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(np.asarray(labels, dtype=bool), np.asarray(scores) >= threshold, zero_division=0))


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score threshold with the best F1 on these (fitting) rows."""
    from sklearn.metrics import precision_recall_curve

    p, r, t = precision_recall_curve(np.asarray(labels, dtype=bool), scores)
    f1 = 2 * p * r / np.clip(p + r, 1e-12, None)
    return float(t[int(np.argmax(f1[:-1]))]) if len(t) else 0.0
