"""The random-SAE control (Korznikov et al., arXiv 2602.14111): a trained SAE's figure means little
until it beats an SAE of the same architecture and shape whose weights were never trained.

How the twin is drawn, under one seed: the architecture's own constructor at the trained SAE's
shape (d_in, d_sae, k, hidden sizes); for a one-layer SAE the decoder's rows are then unit-norm
Gaussian directions, the encoder their transpose, and the biases zero; a deep SAE keeps its
constructor's random layers. Thresholds (BatchTopK's, JumpReLU's) are copied from the trained SAE,
so the twin keeps the same k or thresholds. The twin is frozen (no parameter requires a gradient)
and in eval mode.
"""

from __future__ import annotations

import torch

from causalgear.sae.base import SparseAutoencoder


def random_twin(sae: SparseAutoencoder, seed: int) -> SparseAutoencoder:
    """An untrained SAE of `sae`'s class and shape, drawn from `seed` (the same seed, the same twin)."""
    shape = sae.config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        twin = type(sae).from_saved({**shape, "causalgear": shape})
        with torch.no_grad():
            if hasattr(twin, "W_dec") and hasattr(twin, "W_enc"):
                w = torch.randn(sae.d_sae, sae.d_in)
                twin.W_dec.copy_(w / w.norm(dim=1, keepdim=True))
                twin.W_enc.copy_(twin.W_dec.T)
                for bias in ("b_enc", "b_dec"):
                    getattr(twin, bias).zero_()
            trained = dict(sae.named_parameters()) | dict(sae.named_buffers())
            for name, t in [*twin.named_parameters(), *twin.named_buffers()]:
                if "threshold" in name:
                    t.copy_(trained[name].detach().cpu())
    device = next(sae.parameters()).device
    return twin.to(device).eval().requires_grad_(False)
