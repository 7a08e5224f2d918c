"""Attribution patching: estimate every coordinate's patch effect from one backward pass.

M = log-likelihood of the gold SQL (teacher forcing). With g the SAE decoder, z the code at
the site and Δz_j the patch (e.g. -z_j for zero ablation), the first-order change of M is
Σ_positions Δz_j · (J_g^T ∇_h M)_j. One backward pass gives ∇_h M; one vector-Jacobian product
through the decoder gives J_g^T ∇_h M for every coordinate at once. Exact linearisation for a
linear decoder, first order for the deep one; the top coordinates are then confirmed by real
patching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from causalgear.data.examples import Example
from causalgear.models.site import Site
from causalgear.models.teacher_forcing import head_of_hidden, prompt_sql_batch, sql_logprobs
from causalgear.sae.base import SparseAutoencoder


def attribution_scores(tokenizer, sae: SparseAutoencoder, examples: Sequence[Example], site: Site,
                       code_delta: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 32) -> torch.Tensor:
    """Estimated change of the mean gold-SQL log-likelihood per example, for every coordinate, when
    the code changes by `code_delta(z)` (from `Interventions.code_delta`)."""
    model = site.model
    device = next(model.parameters()).device
    total = torch.zeros(sae.d_sae, dtype=torch.float64)
    head_of_hidden(model)  # its one probing pass, before the site's hooks would see it
    for start in range(0, len(examples), batch_size):
        ids, mask, labels = prompt_sql_batch(tokenizer, examples[start:start + batch_size], device)
        with site.leaf() as leaf, torch.enable_grad():
            sql_logprobs(model, ids, mask, labels).sum().backward()
        h, grad = leaf["h"].detach().float(), leaf["h"].grad.float()
        real = mask.bool()
        with torch.enable_grad():
            z = sae.encode(h[real]).detach().requires_grad_(True)
            (jvp,) = torch.autograd.grad((sae.decode(z) * grad[real]).sum(), z)
        z = z.detach()
        total += (code_delta(z) * jvp).sum(0).double().cpu()
        model.zero_grad(set_to_none=True)
    return total / len(examples)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Rank correlation with average ranks for ties (nan when either side is constant)."""
    import warnings

    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: nan, reported as undefined
        return float(spearmanr(list(a), list(b)).statistic)
