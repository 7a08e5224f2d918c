"""The standard one-layer SAE (SAELens' "standard"): z = ReLU((x - b_dec) W_enc + b_enc),
x_hat = z W_dec + b_dec, L1 weighted by each decoder row's norm, tied initialisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from causalgear.sae.base import SparseAutoencoder


class ReLUSAE(SparseAutoencoder):
    arch = "relu"
    saelens_architecture, saelens_compatible, applies_b_dec_to_input = "standard", True, True

    def __init__(self, d_in: int, d_sae: int):
        super().__init__(d_in, d_sae)
        w_dec = torch.randn(d_sae, d_in)
        w_dec = 0.1 * w_dec / w_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(w_dec)
        self.W_enc = nn.Parameter(w_dec.T.clone())  # tied init: encoder = decoder transposed
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        # (x - b_dec) W_enc + b_enc, with b_dec moved onto the bias: one fused op on the batch, not three
        return F.linear(x, self.W_enc.T, self.b_enc - self.b_dec @ self.W_enc)

    def encode_pre_at(self, x: torch.Tensor, j: int) -> torch.Tensor:
        # one column of the encoder, not all d_sae: integrated gradients read one latent thousands of times
        w = self.W_enc[:, j]
        return x @ w + (self.b_enc[j] - self.b_dec @ w)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.W_dec.T, self.b_dec)

    def sparsity_penalty(self, z: torch.Tensor) -> torch.Tensor:
        # mean over rows of sum_i z_i ||W_dec_i||; z >= 0, so sum the batch first (a vector, not a batch)
        return z.sum(0) @ self.W_dec.norm(dim=1) / len(z)

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        self.W_enc.mul_(scale)
        self.W_dec.div_(scale)
        self.b_dec.div_(scale)
