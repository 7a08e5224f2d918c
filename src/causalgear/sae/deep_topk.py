"""deep_relu's layers with a TopK code: exact sparsity without an L1, AuxK on dead codes.

With an L1, deep_relu keeps a few dense codes and lets the rest die (README, "SAE training").
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

from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.topk import dead_codes, top_k_codes


class DeepTopKSAE(DeepReLUSAE):
    arch = "deep_topk"
    training_buffers = ("rows_since_fired",)

    def __init__(self, d_in: int, d_sae: int, k: int, hidden_sizes: list[int] | None = None,
                 aux_coeff: float = 1 / 32, dead_after_rows: int = 51_200):
        super().__init__(d_in, d_sae, hidden_sizes)
        layers = list(self.encoder)
        self.encoder = nn.Sequential(*layers[:-2], layers[-1])  # drop the ReLU in front of the code layer
        self.k = min(k, d_sae)
        self.aux_coeff, self.dead_after_rows = aux_coeff, dead_after_rows
        self.register_buffer("rows_since_fired", torch.zeros(d_sae, dtype=torch.long))

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return top_k_codes(pre, self.k)

    def loss_terms(self, x: torch.Tensor, l1_coeff: float) -> dict[str, torch.Tensor]:
        pre = self.encode_pre(x)
        z = self.activation(pre)
        x_hat = self.decode(z)
        mse = F.mse_loss(x_hat, x)
        dead = dead_codes(self.rows_since_fired, z, self.training, self.dead_after_rows)
        aux = x.new_zeros(())
        if dead.any():
            z_aux = z.detach().clone()
            z_aux[:, dead] = F.softplus(pre[:, dead])
            aux = F.mse_loss(self.decode(z_aux), x)
        l1 = self.sparsity_penalty(z)
        loss = mse + self.aux_coeff * aux + l1_coeff * l1
        return {"loss": loss, "mse": mse, "aux": aux, "l1": l1, "z": z, "x_hat": x_hat}

    def config(self) -> dict:
        return {**super().config(), "k": self.k}
