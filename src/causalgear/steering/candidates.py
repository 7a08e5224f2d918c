"""Latents worth steering, pre-ranked by GrAInS' contrastive objective in one backward pass each.

On the selection prompts the unsteered model answers wrong, M = log p(gold SQL) − log p(the SQL
it wrote), both teacher-forced. Raising latent j by its mean active value at every position
changes M by about Σ_positions Δz_j · (J_gᵀ ∇_h M)_j (attribution patching, as evaluate ranks
coordinates). The latents whose raise (or, with `steering.target.direction=lower`, whose lowering)
most favours the gold answer come first; each SAE method then picks its latent and scale among
them by real generation on the selection split.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from causalgear.interventions.attribution import attribution_scores

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


def contrastive_latents(bench: Workbench, examples: list, preds: list[str], correct: np.ndarray, n: int,
                        sign: float = 1.0, sae=None, stats: dict | None = None) -> list[int]:
    """The `n` latents ranked first, best first (none when no answer is wrong); of `sae` (with its
    code statistics `stats`), the run's SAE where None."""
    wrong = [i for i, c in enumerate(correct) if not c and preds[i].strip()]
    if not wrong or n == 0:
        return []
    sae, stats = (bench.sae, bench.stats) if sae is None else (sae, stats)
    mean_active = stats["mean_active"]

    def raised(z: torch.Tensor) -> torch.Tensor:
        return mean_active.to(z).expand_as(z)

    def m(sqls: list) -> torch.Tensor:
        return attribution_scores(bench.tokenizer, sae, sqls, bench.site, raised)

    gold = m([examples[i] for i in wrong])
    written = m([replace(examples[i], sql=preds[i]) for i in wrong])
    return torch.argsort(sign * (gold - written), descending=True)[:n].tolist()
