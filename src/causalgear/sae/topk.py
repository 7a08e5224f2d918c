"""TopK SAE: keep the k largest pre-activations (ReLU'd); AuxK loss revives dead latents by
asking the top `aux_k` dead ones to reconstruct what the live code missed."""

from __future__ import annotations

import torch

from causalgear.sae.relu import ReLUSAE


def top_k_codes(pre: torch.Tensor, k: int) -> torch.Tensor:
    """The ReLU of each row's k largest pre-activations; zero elsewhere."""
    top = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))


def dead_codes(rows_since_fired: torch.Tensor, z: torch.Tensor, training: bool, dead_after_rows: int) -> torch.Tensor:
    """Which codes are dead: none of the last `dead_after_rows` rows fired them. In training, the
    counter advances by this batch first (in place)."""
    if training:
        rows_since_fired += len(z)
        rows_since_fired[(z > 0).any(0)] = 0
    return rows_since_fired >= dead_after_rows


class TopKSAE(ReLUSAE):
    arch = "topk"
    training_buffers = ("rows_since_fired",)

    def __init__(self, d_in: int, d_sae: int, k: int, aux_k: int | None = None, aux_coeff: float = 1 / 32,
                 dead_after_rows: int = 100_000):
        super().__init__(d_in, d_sae)
        self.k = min(k, d_sae)
        self.aux_k = aux_k or min(d_sae // 2, 2 * self.k)
        self.aux_coeff = aux_coeff
        self.dead_after_rows = dead_after_rows
        self.register_buffer("rows_since_fired", torch.zeros(d_sae, dtype=torch.long))

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return top_k_codes(pre, self.k)

    def sparsity_penalty(self, z: torch.Tensor) -> torch.Tensor:
        return z.abs().sum(-1).mean()

    def loss_terms(self, x: torch.Tensor, l1_coeff: float) -> dict[str, torch.Tensor]:
        pre = self.encode_pre(x)
        z = self.activation(pre)
        x_hat = self.decode(z)
        mse = (x_hat - x).pow(2).mean()
        dead = dead_codes(self.rows_since_fired, z, self.training, self.dead_after_rows)
        aux = x.new_zeros(())
        if dead.any():
            k_aux = min(self.aux_k, int(dead.sum()))
            dead_pre = pre.masked_fill(~dead, float("-inf"))
            top = dead_pre.topk(k_aux, dim=-1)
            z_aux = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
            residual = (x - x_hat).detach()
            aux = (z_aux @ self.W_dec - residual).pow(2).mean()
        l1 = self.sparsity_penalty(z)
        loss = mse + self.aux_coeff * aux + l1_coeff * l1
        return {"loss": loss, "mse": mse, "aux": aux, "l1": l1, "z": z, "x_hat": x_hat}

    @torch.no_grad()
    def post_step(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    def config(self) -> dict:
        return {**super().config(), "k": self.k}
