"""What a feature page shows of each latent, as data: its activation histogram, its top activating
contexts with every token's activation, the tokens its decoder direction promotes through the
model's final norm and unembedding (a logit lens of the latent), and its measured causal effect."""

from __future__ import annotations

import numpy as np
import torch

from causalgear.interventions.factory import decoder_direction
from causalgear.io import read_json
from causalgear.sae.paths import causal_json_beside


def histogram(values: torch.Tensor, bins: int = 20) -> dict:
    """Counts of the latent's non-zero activations in equal bins (and how many rows were zero)."""
    active = values[values > 0].numpy()
    if len(active) == 0:
        return {"zero": int(len(values)), "edges": [], "counts": []}
    counts, edges = np.histogram(active, bins=bins)
    return {"zero": int((values <= 0).sum()), "edges": [float(e) for e in edges], "counts": counts.tolist()}


def top_contexts(z: torch.Tensor, where: torch.Tensor, j: int, tokenizer, n: int = 5, window: int = 12) -> list[dict]:
    """The `n` rows where latent j fires most, each with the tokens around it (from the same
    example) and their activations of j. `where`: [rows, 3] example, position, token id."""
    order = torch.argsort(z[:, j], descending=True)[:n]
    out = []
    for r in order.tolist():
        if z[r, j] <= 0:
            break
        example, position = int(where[r, 0]), int(where[r, 1])
        same = torch.nonzero((where[:, 0] == example) & ((where[:, 1] - position).abs() <= window)).flatten()
        same = same[torch.argsort(where[same, 1])]
        out.append({"example": example, "position": position, "value": float(z[r, j]),
                    "tokens": [tokenizer.decode([int(where[i, 2])]) for i in same.tolist()],
                    "activations": [round(float(z[i, j]), 4) for i in same.tolist()],
                    "at": int(torch.nonzero(same == r).flatten()[0])})
    return out


@torch.no_grad()
def logit_lens(model, sae, j: int, value: float, tokenizer, k: int = 8) -> list[dict]:
    """The tokens latent j's decoder contribution (at `value`) promotes most, read through the
    final norm and the unembedding."""
    direction = decoder_direction(sae, j, value)
    if float(direction.norm()) == 0:
        return []
    logits = model.get_output_embeddings()(model.base_model.norm(direction.to(model.dtype)))
    top = torch.topk(logits.float(), k)
    return [{"token": tokenizer.decode([int(i)]), "logit": round(float(v), 3)}
            for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]


def causal_effects(sae_path: str) -> dict[int, dict]:
    """Each latent's measured effect on execution accuracy, where `causalgear evaluate` ran beside
    the SAE (a pipeline run dir: train/ and evaluate/)."""
    causal = causal_json_beside(sae_path)
    if not causal.is_file():
        return {}
    data = read_json(causal, "rerun `causalgear evaluate` beside this SAE, or delete the file")
    return {r["coordinate"]: {"mode": data["mode"], "delta": r["delta"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
            for r in data.get("coordinates", []) if r.get("delta") is not None}
