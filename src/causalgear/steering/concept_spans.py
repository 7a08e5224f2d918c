"""Concept steering at the positions an interchange uses (`steering.concepts.positions` has `span`):
only at the prompt tokens of the words that say the component's value ("ascending", "the average"),
where cause / isolate's interchange sets the stream (`causalgear.data.pairs`), instead of at every
position. No source prompt is needed: the push comes from the validation examples.

Methods: DiffMean over those tokens (mean of the site's stream at the words of validation examples
with the target value minus without), and the SAE's clamp and additive on the latents whose mean
code over those tokens differs most (the random twin's the same way). A prompt whose words have no
span (no swap of equal length) is not edited.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from causalgear.data.pairs import example_pairs
from causalgear.estimators import diffmean
from causalgear.interventions.cause_isolate import site_rows
from causalgear.interventions.specs import AddLatent, AddVector, Clamp

NO_SPAN = torch.zeros(0, dtype=torch.long)


def attribute_span(tokenizer, example, attribute: str) -> torch.Tensor:
    """Prompt positions of the words that say `attribute`'s value: the union of every swap's span."""
    spans = [p.span for p in example_pairs(tokenizer, example, attribute, random.Random(0))]
    if not spans:
        return NO_SPAN
    return torch.arange(min(a for a, _ in spans), max(b for _, b in spans) + 1)


def span_means(bench, examples: list, spans: list[torch.Tensor], saes: tuple) -> tuple[torch.Tensor, ...]:
    """Per example with a span: the stream's mean over it, and each of `saes`' mean code there."""
    kept = [(e, s) for e, s in zip(examples, spans, strict=True) if len(s)]
    if not kept:
        return (torch.zeros(0), *(torch.zeros(0) for _ in saes))
    rows = site_rows(bench.site, bench.tokenizer, [e.prompt for e, _ in kept])
    h = torch.stack([r[s].float().mean(0) for r, (_, s) in zip(rows, kept, strict=True)])
    device = next(bench.sae.parameters()).device
    with torch.no_grad():
        codes = [torch.stack([sae.encode(r[s].float().to(device)).mean(0).cpu() for r, (_, s) in
                              zip(rows, kept, strict=True)]) for sae in saes]
    return h, *codes


def span_grids(bench, component: str, pos: list, neg: list, prompts: dict[str, list], tools: dict,
               n_latents: int, alphas: list[float], clamps: list[float]) -> dict[str, tuple[list, Callable]]:
    """The at-span methods' grids: name -> (points (latent or None, scale), point -> intervention per
    split). `tools`: "sae" (and "random_sae") -> (the SAE, its Interventions)."""
    tok = bench.tokenizer
    at = {split: tuple(attribute_span(tok, e, component) for e in examples) for split, examples in prompts.items()}
    saes = tuple(sae for sae, _ in tools.values())
    h_pos, *z_pos = span_means(bench, pos, [attribute_span(tok, e, component) for e in pos], saes)
    h_neg, *z_neg = span_means(bench, neg, [attribute_span(tok, e, component) for e in neg], saes)
    if not len(h_pos) or not len(h_neg):
        return {}

    def per_split(spec: Callable, made) -> dict:
        return {split: made.make(spec(spans)) for split, spans in at.items()}

    device = next(bench.model.parameters()).device
    direction = diffmean(h_pos, h_neg).to(device)
    sae_tools = tools["sae"][1]
    grids = {"diffmean_at_span": ([(None, a) for a in alphas],
                                  lambda p: per_split(lambda s: AddVector(direction, p[1], s), sae_tools))}
    for i, (name, (_, made)) in enumerate(tools.items()):
        prefix = "" if name == "sae" else f"{name}_"
        latents = torch.argsort(diffmean(z_pos[i], z_neg[i]), descending=True)[:n_latents].tolist()
        grids[f"{prefix}clamp_at_span"] = ([(j, c) for j in latents for c in clamps],
                                           lambda p, m=made: per_split(lambda s: Clamp(p[0], p[1], s), m))
        grids[f"{prefix}additive_at_span"] = ([(j, a) for j in latents for a in alphas],
                                              lambda p, m=made: per_split(lambda s: AddLatent(p[0], p[1], s), m))
    return grids
