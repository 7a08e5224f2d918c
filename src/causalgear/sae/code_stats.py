"""What each SAE code does over the harvest: firing rate, mean and mean active value, and the
harvested tokens it fires on most."""

from __future__ import annotations

import torch

from causalgear.harvest.store import CLAUSES, ROLES, ActivationStore, ShuffledBatches
from causalgear.sae.base import SparseAutoencoder


def coordinate_stats(sae: SparseAutoencoder, store: ActivationStore,
                     max_rows: int = 100_000) -> dict[str, torch.Tensor]:
    """Firing rate, mean, and mean active value of every code over (a sample of) the harvest."""
    sums = torch.zeros(sae.d_sae, dtype=torch.float64)
    active_sums = torch.zeros(sae.d_sae, dtype=torch.float64)
    fired = torch.zeros(sae.d_sae, dtype=torch.float64)
    n = 0
    with torch.no_grad():
        for x in ShuffledBatches(store, 4096, normalize=False, shuffle=False):
            z = sae.encode(x).double()
            sums += z.sum(0)
            fired += (z > 0).sum(0)
            active_sums += z.clamp_min(0).sum(0)
            n += len(x)
            if n >= max_rows:
                break
    return {"firing_rate": fired / n, "mean": sums / n, "mean_active": active_sums / fired.clamp_min(1)}


def top_activating_tokens(sae: SparseAutoencoder, store: ActivationStore, j: int, tokenizer, k: int) -> list[dict]:
    return top_tokens_per_coordinate(sae, store, [j], tokenizer, k)[j]


def top_tokens_per_coordinate(sae: SparseAutoencoder, store: ActivationStore, coordinates: list[int], tokenizer,
                              k: int) -> dict[int, list[dict]]:
    """The k harvested tokens on which each coordinate fires most, one pass over the store."""
    best: dict[int, list[tuple]] = {j: [] for j in coordinates}
    cols = torch.tensor(coordinates, dtype=torch.long)
    with torch.no_grad():
        for i in range(store.n_shards):
            shard = store.shard(i)
            z = sae.encode(shard["acts"].float().to(next(sae.parameters()).device))[:, cols].cpu()
            top = torch.topk(z, min(k, len(z)), dim=0)
            for c, j in enumerate(coordinates):
                for v, r in zip(top.values[:, c].tolist(), top.indices[:, c].tolist(), strict=True):
                    best[j].append((v, int(shard["example"][r]), int(shard["position"][r]),
                                    ROLES[int(shard["role"][r])], CLAUSES[int(shard["clause"][r])],
                                    int(shard["token_id"][r])))
    out = {}
    for j, rows in best.items():
        rows.sort(key=lambda t: -t[0])
        out[j] = [{"value": v, "token": tokenizer.decode([tok]), "example": ex, "position": pos, "role": role,
                   "clause": clause} for v, ex, pos, role, clause, tok in rows[:k]]
    return out
