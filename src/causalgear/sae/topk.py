"""TopK SAE: keep the k largest pre-activations (ReLU'd); AuxK loss revives dead latents by
asking the top `aux_k` dead ones to reconstruct what the live code missed."""

from __future__ import annotations

import torch

from causalgear.sae.base import Coefficient
from causalgear.sae.relu import ReLUSAE


def top_k_codes(pre: torch.Tensor, k: int) -> torch.Tensor:
    """The ReLU of each row's k largest pre-activations; zero elsewhere."""
    top = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))


class TopKSAE(ReLUSAE):
    arch = saelens_architecture = "topk"
    uses_k = True

    def __init__(self, d_in: int, d_sae: int, k: int, aux_k: int | None = None, aux_coeff: float = 1 / 32,
                 dead_after_rows: int = 100_000):
        super().__init__(d_in, d_sae)
        self.k = min(k, d_sae)
        self.aux_k = aux_k or min(d_sae // 2, 2 * self.k)
        self.aux_coeff = aux_coeff
        self.dead_after_rows = dead_after_rows

    @classmethod
    def from_config(cls, sae_cfg, d_in: int) -> TopKSAE:
        return cls(d_in, sae_cfg.d_sae, sae_cfg.k)

    @classmethod
    def from_saved(cls, saved: dict) -> TopKSAE:
        return cls(saved["d_in"], saved["d_sae"], saved["k"])

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return top_k_codes(pre, self.k)

    def sparsity_penalty(self, z: torch.Tensor) -> torch.Tensor:
        return z.abs().sum(-1).mean()

    def coefficients(self, sae_cfg) -> dict[str, Coefficient]:
        return {"aux": Coefficient(self.aux_coeff), **super().coefficients(sae_cfg)}

    def auxiliary_losses(self, x, pre, z, x_hat, dead) -> dict[str, torch.Tensor]:
        aux = x.new_zeros(())
        if dead is not None and dead.any():
            k_aux = min(self.aux_k, int(dead.sum()))
            dead_pre = pre.masked_fill(~dead, float("-inf"))
            top = dead_pre.topk(k_aux, dim=-1)
            z_aux = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
            residual = (x - x_hat).detach()
            aux = (z_aux @ self.W_dec - residual).pow(2).mean()
        return {"aux": aux, **super().auxiliary_losses(x, pre, z, x_hat, dead)}

    @torch.no_grad()
    def post_step(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    def config(self) -> dict:
        return {**super().config(), "k": self.k}
