"""Cause and isolate (RAVEL, MIB) on counterfactual prompt pairs, per attribute and method.

For a pair (a base prompt, and a source prompt that differs in one attribute, `causalgear.data.
pairs`), an interchange sets part of the stream at the attribute's tokens of the base run to the
source's, and the model generates. `cause`: the share whose SQL executes as the counterfactual gold
(the base SQL with the attribute swapped); `isolate`: the share whose other components are what
the unedited model wrote. Only pairs the unedited model answers right on both prompts, and whose
two golds the databases tell apart, count (as RAVEL keeps the entities a model knows), so a
failure is the interchange's.

A swap is a pair of values (ASC -> DESC, AVG -> MAX, ...). Methods, side by side on the same test
pairs: no interchange; the best 1, 2 and 5 SAE latents of the pair's swap (candidates: the latents
whose code differs most between the two prompts of the swap's selection pairs, ordered by their own
cause there); the DiffMean direction of the swap (the selection mean at the span of prompts with
the source's value minus that with the base's); and the full residual at the span, the ceiling of
any interchange at this site; and (`causal.random_sae`) the best 1, 2 and 5 latents of the SAE's
random twin, chosen the same way, beside which a latent figure counts only where its interval
clears the twin's. Every choice is made on the selection pairs; a test swap the selection pairs
never had gets no latents and no direction (it counts as not caused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from causalgear.data.components import components
from causalgear.data.pairs import ATTRIBUTES, Pair, make_pairs
from causalgear.data.scoring import score_sql
from causalgear.data.sqlexec import DEFAULT_BUDGET, ExecBudget
from causalgear.estimators import diffmean
from causalgear.interventions.statistics import proportion
from causalgear.interventions.types import SpanInterchange, Transfer, along, full_residual, sae_codes
from causalgear.models.site import Site

if TYPE_CHECKING:
    from causalgear.workbench import Workbench

TOP_K = (1, 2, 5)
Swap = tuple[str, str]


def value_of(attribute: str, sql: str) -> str | None:
    """The attribute's value in a query: ASC/DESC, the aggregate function, the operator."""
    v = (components(sql) or {}).get(attribute)
    if attribute == "aggregate" and v:
        return next(iter(v))[0].upper()
    return v


def swap_of(pair: Pair) -> Swap:
    return value_of(pair.attribute, pair.base.sql), value_of(pair.attribute, pair.counterfactual.sql)


def judge(pairs: Sequence[Pair], predictions: Sequence[str], unedited: Sequence[dict],
          budget: ExecBudget = DEFAULT_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: cause (the prediction executes as the counterfactual gold on every database of
    the schema) and isolate (every other component is what the unedited model wrote, `unedited`:
    its components)."""
    cause, isolate = [], []
    for p, y, before in zip(pairs, predictions, unedited, strict=True):
        after = components(y) or {}
        cause.append(score_sql(p.counterfactual.sql, y, p.base.db_paths, budget).correct)
        isolate.append(bool(after) and all(after.get(c) == v for c, v in before.items() if c != p.attribute))
    return np.array(cause, dtype=float), np.array(isolate, dtype=float)


@torch.no_grad()
def site_rows(site: Site, tokenizer, prompts: list[str], batch_size: int = 32) -> list[torch.Tensor]:
    """What the site writes for each prompt [prompt_len, d], read as generation's prompt pass reads it."""
    out = []
    device = next(site.model.parameters()).device
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True,
                        padding_side="left").to(device)
        h = site.run(enc["input_ids"], enc["attention_mask"])
        for row, n in enumerate(enc["attention_mask"].sum(1).tolist()):
            out.append(h[row, h.shape[1] - n:].cpu())
    return out


class PairSet:
    """Pairs of one attribute the unedited model knows, with the site's activations on both
    prompts and the unedited predictions; runs an interchange and scores it."""

    def __init__(self, bench: Workbench, pairs: Sequence[Pair]):
        self.bench, self.made = bench, len(pairs)
        base_right, base = bench.runner([p.base for p in pairs]).correct()
        source_right, _ = bench.runner([p.counterfactual for p in pairs]).correct()
        known = [i for i, p in enumerate(pairs) if base_right[i] and source_right[i]
                 # a swap its databases cannot tell apart (ties, one row) would count as caused
                 and not score_sql(p.base.sql, p.counterfactual.sql, p.base.db_paths, bench.budget).correct]
        self.pairs = [pairs[i] for i in known]
        self.predictions = [base[i] for i in known]
        self.unedited = [components(y) or {} for y in self.predictions]
        self.base_h = site_rows(bench.site, bench.tokenizer, [p.base.prompt for p in self.pairs])
        self.source_h = site_rows(bench.site, bench.tokenizer, [p.source_prompt for p in self.pairs])
        self.spans = [p.span for p in self.pairs]
        self.swaps = [swap_of(p) for p in self.pairs]

    def score(self, predictions: list[str], which: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(cause, isolate) of the pairs `which`, given their predictions."""
        return judge([self.pairs[i] for i in which], predictions, [self.unedited[i] for i in which], self.bench.budget)

    def run(self, transfer: Transfer | None, which: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cause and isolate of an interchange (None: the unedited model) on all pairs or `which`."""
        idx = list(range(len(self.pairs))) if which is None else list(which)
        if transfer is None:
            return self.score([self.predictions[i] for i in idx], idx)
        iv = SpanInterchange(self.bench.site, [self.source_h[i] for i in idx], [self.spans[i] for i in idx],
                             lambda h, s, rows: transfer(h, s, [idx[r] for r in rows]))
        return self.score(self.bench.runner([self.pairs[i].base for i in idx]).predict(iv), idx)

    def span_mean(self, i: int, which: str) -> torch.Tensor:
        h = (self.base_h if which == "base" else self.source_h)[i]
        a, b = self.spans[i]
        return h[a:b + 1].float().mean(0)

    def by_swap(self) -> dict[Swap, list[int]]:
        groups: dict[Swap, list[int]] = {}
        for i, s in enumerate(self.swaps):
            groups.setdefault(s, []).append(i)
        return groups


def _candidates(sae, pairs: PairSet, which: list[int], n: int) -> list[int]:
    """Latents whose code differs most between the two prompts at the span, on average."""
    moved = torch.zeros(sae.d_sae)
    with torch.no_grad():
        for i in which:
            a, b = pairs.spans[i]
            moved += (sae.encode(pairs.source_h[i][a:b + 1].float())
                      - sae.encode(pairs.base_h[i][a:b + 1].float())).abs().mean(0).cpu()
    return moved.argsort(descending=True)[:n].tolist()


def choose_latents(sae, select: PairSet, n_candidates: int) -> dict[Swap, list[dict]]:
    """Per swap, its candidate latents with their cause and isolate on the swap's selection pairs,
    best first (cause, then isolate, then the code difference)."""
    chosen = {}
    for swap, which in select.by_swap().items():
        rows = []
        for j in _candidates(sae, select, which, n_candidates):
            cause, isolate = select.run(sae_codes(sae, [j]), which)
            rows.append({"latent": j, "cause": float(cause.mean()), "isolate": float(isolate.mean()), "n": len(which)})
        chosen[swap] = sorted(rows, key=lambda r: (-r["cause"], -r["isolate"]))
    return chosen


def per_pair_latents(sae, test: PairSet, chosen: dict[Swap, list[dict]], k: int) -> Transfer:
    """Each test pair's swap's best k latents take the source's codes (none for an unseen swap)."""
    mask = torch.zeros(len(test.pairs), sae.d_sae, dtype=torch.bool)
    for i, swap in enumerate(test.swaps):
        mask[i, [r["latent"] for r in chosen.get(swap, [])[:k]]] = True
    return sae_codes(sae, mask)


def diffmean_directions(select: PairSet, test: PairSet) -> torch.Tensor:
    """For each test pair, the selection mean at the span of prompts with the source's value minus
    that of prompts with the base's value (zero where the selection pairs never had one of them)."""
    by_value: dict[str, list[torch.Tensor]] = {}
    for i, (base_value, source_value) in enumerate(select.swaps):
        by_value.setdefault(base_value, []).append(select.span_mean(i, "base"))
        by_value.setdefault(source_value, []).append(select.span_mean(i, "source"))
    rows = {v: torch.stack(ms) for v, ms in by_value.items()}
    zero = torch.zeros(select.base_h[0].shape[-1])
    return torch.stack([diffmean(rows[b], rows[a]) if a in rows and b in rows else zero for a, b in test.swaps])


def _figures(cause: np.ndarray, isolate: np.ndarray, **extra) -> dict:
    return {"cause": proportion(cause), "isolate": proportion(isolate), **extra}


def measure_attribute(bench: Workbench, attribute: str, select_examples, test_examples) -> dict:
    c, sae, seed = bench.cfg.causal, bench.sae, bench.cfg.seed
    select = PairSet(bench, make_pairs(bench.tokenizer, select_examples, attribute, None, seed, every_swap=True))
    test = PairSet(bench, make_pairs(bench.tokenizer, test_examples, attribute, c.pairs, seed))
    result = {"attribute": attribute, "select_pairs_made": select.made,
              "select_pairs": len(select.pairs), "test_pairs_made": test.made, "test_pairs": len(test.pairs)}
    if not select.pairs or not test.pairs:
        return {**result, "methods": {}, "skipped": "no pair the unedited model answers right on both prompts"}
    chosen = choose_latents(sae, select, c.pair_candidates)
    result["selection"] = [{"swap": list(swap), "latents": rows} for swap, rows in chosen.items()]
    # the handle steering is aimed by (`steering.target`): can any interchange at this site move the
    # attribute, on validation pairs alone (at most causal.pairs of them)
    result["selection_full_residual"] = _figures(*select.run(full_residual, range(min(c.pairs, len(select.pairs)))))
    result["test_swaps_unseen_in_selection"] = sum(s not in chosen for s in test.swaps)
    methods: dict[str, Transfer | None] = {"no_interchange": None}
    for k in TOP_K:
        methods[f"top_{k}_latents"] = per_pair_latents(sae, test, chosen, k)
    methods["diffmean"] = along(diffmean_directions(select, test))
    methods["full_residual"] = full_residual
    result["methods"] = {name: _figures(*test.run(transfer)) for name, transfer in methods.items()}
    if c.random_sae:  # the same choice and measure with an untrained twin of the SAE (sae.random_twin)
        chosen_by_twin = choose_latents(bench.twin, select, c.pair_candidates)
        m = result["methods"]
        for k in TOP_K:
            m[f"top_{k}_latents"]["twin"] = _figures(*test.run(per_pair_latents(bench.twin, test, chosen_by_twin, k)))
        # a latent figure is a finding only where its interval clears the twin's
        result["beats_random_sae"] = {f"top_{k}_latents": m[f"top_{k}_latents"]["cause"]["ci_low"] >
                                      m[f"top_{k}_latents"]["twin"]["cause"]["ci_high"] for k in TOP_K}
    return result


def cause_isolate(bench: Workbench, select_examples, test_examples) -> dict:
    """Per attribute: pairs made and kept, the latents chosen per swap, each method on the test pairs."""
    return {a: measure_attribute(bench, a, select_examples, test_examples) for a in ATTRIBUTES}
