"""The simple steering baselines a feature must beat: a difference of means and a random direction.

Both are residual directions added at the SAE's site (the factory's `direction` mode), scaled to the norm of the
feature's own additive direction so that one grid of alphas serves all three.
"""

from __future__ import annotations

import numpy as np
import torch

from causalgear.estimators import diffmean
from causalgear.models.site import Site


def mean_prompt_activation(tokenizer, prompts: list[str], site: Site, batch_size: int = 32) -> torch.Tensor:
    """Each prompt's activation at the site, averaged over its tokens: [n, d]."""
    device = next(site.model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True).to(device)
            h = site.run(batch["input_ids"], batch["attention_mask"]).float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(((h * mask).sum(1) / mask.sum(1)).cpu())
    return torch.cat(out)


def diffmean_direction(activations: torch.Tensor, correct: np.ndarray, norm: float) -> torch.Tensor | None:
    """Mean activation of the prompts answered right minus that of those answered wrong, at `norm`
    (AxBench's DiffMean, with correctness as the concept); None when either group is empty."""
    right = torch.as_tensor(np.asarray(correct, dtype=bool))
    if right.all() or not right.any():
        return None
    d = diffmean(activations[right], activations[~right])
    return d * (norm / d.norm().clamp_min(1e-12))


def random_direction(d_in: int, norm: float, seed: int) -> torch.Tensor:
    """A seeded Gaussian direction of the given norm: the control every direction must beat."""
    d = torch.randn(d_in, generator=torch.Generator().manual_seed(seed))
    return d * (norm / d.norm())
