"""Matryoshka SAE (Bussmann et al. 2025; Nabeshima 2024), BatchTopK inside: the dictionary's
nested prefixes (the first d_sae/16, /8, /4, /2 latents, then all of them) are each trained to
reconstruct the input from their own codes alone, so early latents must carry the general
concepts and later ones refine them. This fights feature absorption, where a general latent stops
firing on the inputs a more specific one takes over (SAEBench finds Matryoshka SAEs best on it).

The loss is the full dictionary's MSE (the trainer's) plus `prefixes`: the sum of every proper
prefix's MSE, with coefficient 1. At inference it is a BatchTopK SAE (one global threshold), and
it saves as one: SAELens reads its weights as `batchtopk`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from causalgear.sae.base import Coefficient
from causalgear.sae.batchtopk import BatchTopKSAE

PREFIX_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2)  # of d_sae; the whole dictionary is the last prefix


def prefix_sizes(d_sae: int) -> list[int]:
    """The nested prefix widths, smallest first, each at least 1, ending with d_sae."""
    sizes = sorted({max(1, int(d_sae * f)) for f in PREFIX_FRACTIONS} - {d_sae})
    return [*sizes, d_sae]


class MatryoshkaSAE(BatchTopKSAE):
    arch = "matryoshka"
    saelens_architecture = "batchtopk"

    def __init__(self, d_in: int, d_sae: int, k: int, **kwargs):
        super().__init__(d_in, d_sae, k, **kwargs)
        self.prefixes = prefix_sizes(d_sae)

    def coefficients(self, sae_cfg) -> dict[str, Coefficient]:
        return {"prefixes": Coefficient(1.0), **super().coefficients(sae_cfg)}

    def prefix_decode(self, z: torch.Tensor, m: int) -> torch.Tensor:
        """The reconstruction from the first m latents alone."""
        return F.linear(z[..., :m], self.W_dec[:m].T, self.b_dec)

    def auxiliary_losses(self, x, pre, z, x_hat, dead) -> dict[str, torch.Tensor]:
        nested = sum((F.mse_loss(self.prefix_decode(z, m), x) for m in self.prefixes[:-1]), x.new_zeros(()))
        return {"prefixes": nested, **super().auxiliary_losses(x, pre, z, x_hat, dead)}

    def config(self) -> dict:
        return {**super().config(), "prefixes": self.prefixes}
