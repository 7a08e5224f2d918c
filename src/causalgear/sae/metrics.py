"""SAE quality: reconstruction on held-out rows, and the model's loss with the SAE spliced in."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from causalgear.data.examples import Example
from causalgear.models.site import Site
from causalgear.models.teacher_forcing import prompt_sql_batch, sql_loss_sum
from causalgear.sae.base import SparseAutoencoder


class ReconstructionStats:
    """Streaming sums over validation rows -> mse, fvu, explained variance, l0, density, dead."""

    def __init__(self, d_sae: int):
        self.n = 0
        self.sq_err = 0.0
        self.sum_x = None
        self.sum_sq_x = 0.0
        self.l0 = 0.0
        self.fired = torch.zeros(d_sae, dtype=torch.long)

    @torch.no_grad()
    def update(self, x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor) -> None:
        x, x_hat, z = x.double().cpu(), x_hat.double().cpu(), z.cpu()
        self.n += len(x)
        self.sq_err += float((x - x_hat).pow(2).sum())
        self.sum_x = x.sum(0) if self.sum_x is None else self.sum_x + x.sum(0)
        self.sum_sq_x += float(x.pow(2).sum())
        active = z > 0
        self.l0 += float(active.sum())
        self.fired += active.sum(0)

    def compute(self) -> dict[str, float]:
        d = len(self.sum_x)
        total_var = self.sum_sq_x - float(self.sum_x.pow(2).sum()) / self.n  # sum ||x - mean||^2
        fvu = self.sq_err / total_var
        freq = self.fired.double() / self.n
        return {"mse": self.sq_err / (self.n * d), "fvu": fvu, "explained_variance": 1 - fvu,
                "l0": self.l0 / self.n, "density": float(freq.mean()),
                "dead_fraction": float((self.fired == 0).double().mean()), "val_rows": self.n}

    def feature_density(self) -> torch.Tensor:
        return self.fired.double() / max(self.n, 1)


@torch.no_grad()
def ce_losses(model, tokenizer, sae: SparseAutoencoder, examples: Sequence[Example], layer: int, site: str,
              batch_size: int = 32) -> dict[str, float]:
    """Next-token loss on the gold SQL tokens: clean, with the SAE's reconstruction spliced in at
    the site (all positions), and with the site zero-ablated; recovered = how much of the gap
    between zero ablation and clean the SAE closes (1 = as good as clean)."""
    device = next(model.parameters()).device
    sae = sae.to(device)
    where = Site(model, layer, site)
    totals = {"clean": 0.0, "spliced": 0.0, "zero": 0.0}
    n_tokens = 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        ids, mask, labels = prompt_sql_batch(tokenizer, chunk, device)
        n_tokens += int((labels[:, 1:] != -100).sum())
        totals["clean"] += sql_loss_sum(model, ids, mask, labels)
        with where.edit(lambda h: sae(h.float()).to(h.dtype)):
            totals["spliced"] += sql_loss_sum(model, ids, mask, labels)
        with where.edit(torch.zeros_like):
            totals["zero"] += sql_loss_sum(model, ids, mask, labels)
    clean, spliced, zero = (totals[k] / n_tokens for k in ("clean", "spliced", "zero"))
    recovered = (zero - spliced) / (zero - clean) if zero != clean else float("nan")
    return {"ce_loss_clean": clean, "ce_loss_spliced": spliced, "ce_loss_zero": zero,
            "ce_loss_recovered": recovered, "ce_tokens": n_tokens}
