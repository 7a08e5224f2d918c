"""Does the dictionary come back? Two SAEs trained from different seeds compared by their decoder
directions: the share of latents matched one to one (Hungarian assignment on decoder cosine) at a
cosine of at least 0.7 and 0.9 (Paulo & Belrose, arXiv 2501.16615), and the pairwise mean max
cosine (PW-MCC; Song et al., arXiv 2505.20254). Beside the same figures for two random twins, the
floor a dictionary of that shape reaches by chance.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
from scipy.optimize import linear_sum_assignment

from causalgear.sae.base import SparseAutoencoder

THRESHOLDS = (0.7, 0.9)


@torch.no_grad()
def decoder_directions(sae: SparseAutoencoder) -> torch.Tensor:
    """[d_sae, d_in], each row what the decoder writes for its latent at 1 alone (less what it writes
    for nothing: a deep decoder has no rows to read), made unit."""
    device = next(sae.parameters()).device
    eye = torch.eye(sae.d_sae, device=device)
    rows = sae.decode(eye).float() - sae.decode(torch.zeros(1, sae.d_sae, device=device)).float()
    return torch.nn.functional.normalize(rows, dim=-1).cpu()


def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[d_sae_a, d_sae_b] cosine of every pair of unit rows."""
    return a @ b.T


def matched(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Each of a's latents' cosine with its partner in b under the one-to-one assignment that
    maximises the summed cosine (a latent left without a partner: 0)."""
    sim = cosines(a, b).double().numpy()
    rows, cols = linear_sum_assignment(sim, maximize=True)
    out = torch.zeros(len(a), dtype=torch.float64)
    out[torch.as_tensor(rows)] = torch.as_tensor(sim[rows, cols])
    return out


def pair_figures(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Matched shares at each threshold and the mean max cosine, both ways averaged."""
    m = matched(a, b)
    sim = cosines(a, b)
    mmcs = 0.5 * (float(sim.max(1).values.mean()) + float(sim.max(0).values.mean()))
    return {**{f"matched_at_{t}": float((m >= t).double().mean()) for t in THRESHOLDS}, "mean_max_cosine": mmcs}


def stability(saes: Sequence[SparseAutoencoder], twins: Sequence[SparseAutoencoder] = ()) -> dict:
    """Every pair of `saes` and (the floor) every pair of `twins`: their figures, and the mean over
    pairs (PW-MCC is the mean of the pairs' mean max cosine)."""
    def over(models) -> dict:
        rows = [decoder_directions(s) for s in models]
        pairs = {f"{i}-{j}": pair_figures(rows[i], rows[j]) for i, j in itertools.combinations(range(len(rows)), 2)}
        if not pairs:
            return {"pairs": {}}
        keys = next(iter(pairs.values()))
        return {"pairs": pairs, **{("pw_mcc" if k == "mean_max_cosine" else k): sum(p[k] for p in pairs.values())
                                   / len(pairs) for k in keys}}

    out = {"seeds": len(saes), **over(saes)}
    if twins:
        out["random_twins"] = over(twins)
    return out


def recurrence(directions: Mapping[int, torch.Tensor], first: int, latents: Sequence[int],
               others: Mapping[int, Sequence[int]], at: float = THRESHOLDS[0]) -> dict:
    """Do the latents `latents` of seed `first` come back among the latents `others[s]` of each
    further seed s? Each one's decoder cosine with its partner there (one-to-one, as `matched`); the
    set recurs in a seed where every one's is at least `at`. The first seed counts as one."""
    cos = {}
    for s, theirs in others.items():
        if latents and theirs:
            cos[str(s)] = [round(float(c), 4) for c in matched(directions[first][list(latents)],
                                                               directions[s][list(theirs)])]
        else:
            cos[str(s)] = [0.0] * len(latents)
    values = [c for row in cos.values() for c in row]
    return {"cosines": cos, "recurs_at": at,
            "recurs_in": 1 + sum(bool(row) and min(row) >= at for row in cos.values()), "seeds": 1 + len(others),
            "mean_cosine": round(sum(values) / len(values), 4) if values else None}
