"""BatchTopK SAE (Bussmann et al. 2024): in training, the batch keeps its k x batch-size largest
activations in all, so a row may use more or fewer than k codes; at inference a code fires above
one global threshold, the running mean of the smallest activation training kept. AuxK on dead
codes as TopK's."""

from __future__ import annotations

import torch

from causalgear.sae.topk import TopKSAE


class BatchTopKSAE(TopKSAE):
    arch = saelens_architecture = "batchtopk"

    def __init__(self, d_in: int, d_sae: int, k: int, **kwargs):
        super().__init__(d_in, d_sae, k, **kwargs)
        # the inference threshold and how many batches it averages (saved with the weights)
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("threshold_batches", torch.zeros((), dtype=torch.long))

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return torch.relu(pre) * (pre > self.threshold)
        flat = torch.relu(pre).reshape(-1)
        top = flat.topk(min(self.k * (flat.numel() // self.d_sae), flat.numel()))
        z = torch.zeros_like(flat).scatter(-1, top.indices, top.values).reshape(pre.shape)
        with torch.no_grad():
            kept = top.values[top.values > 0]
            if len(kept):
                n = self.threshold_batches
                self.threshold.mul_(n / (n + 1)).add_(kept.min() / (n + 1))
                self.threshold_batches += 1
        return z
