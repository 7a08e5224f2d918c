"""deep_relu's layers with a TopK code: exact sparsity without an L1, AuxK on dead codes.

With an L1, deep_relu keeps a few dense codes and lets the rest die (docs/findings/saes.md).
Here each row keeps its `k` largest codes; codes that fired on none of the last
`dead_after_rows` rows get the AuxK gradient: their softplus'd pre-activations join the
detached live code and the decoder must reconstruct x from that. The 256-wide encoder layer is
linear (its ReLU dropped), so a code reads a signed input and no single direction switches it
off for every row, which is how deep_relu's codes die.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from causalgear.sae.base import Coefficient
from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.topk import top_k_codes


class DeepTopKSAE(DeepReLUSAE):
    arch = saelens_architecture = "deep_topk"
    uses_k = True

    def __init__(self, d_in: int, d_sae: int, k: int, hidden_sizes: list[int] | None = None,
                 aux_coeff: float = 1 / 32, dead_after_rows: int = 51_200):
        super().__init__(d_in, d_sae, hidden_sizes)
        layers = list(self.encoder)
        self.encoder = nn.Sequential(*layers[:-2], layers[-1])  # drop the ReLU in front of the code layer
        self.k = min(k, d_sae)
        self.aux_coeff, self.dead_after_rows = aux_coeff, dead_after_rows

    @classmethod
    def from_config(cls, sae_cfg, d_in: int) -> DeepTopKSAE:
        return cls(d_in, sae_cfg.d_sae, sae_cfg.k, list(sae_cfg.hidden_sizes))

    @classmethod
    def from_saved(cls, saved: dict) -> DeepTopKSAE:
        return cls(saved["d_in"], saved["d_sae"], saved["k"], saved.get("causalgear", {}).get("hidden_sizes"))

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return top_k_codes(pre, self.k)

    def coefficients(self, sae_cfg) -> dict[str, Coefficient]:
        return {"aux": Coefficient(self.aux_coeff), **super().coefficients(sae_cfg)}

    def auxiliary_losses(self, x, pre, z, x_hat, dead) -> dict[str, torch.Tensor]:
        aux = x.new_zeros(())
        if dead is not None and dead.any():
            z_aux = z.detach().clone()
            z_aux[:, dead] = F.softplus(pre[:, dead])
            aux = F.mse_loss(self.decode(z_aux), x)
        return {"aux": aux, **super().auxiliary_losses(x, pre, z, x_hat, dead)}

    def config(self) -> dict:
        return {**super().config(), "k": self.k}
