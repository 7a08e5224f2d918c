"""Concept steering at the positions an interchange uses (`steering.concepts.positions` has `span`):
only at the prompt tokens of the words that say the component's value ("ascending", "the average"),
where cause / isolate's interchange sets the stream (`causalgear.data.pairs`), instead of at every
position. No source prompt is needed: the push comes from the validation examples.

Where a prompt has no swap of equal length (a count, a sum said "the sum of", two aggregates), the
span is the tokens of every phrase the model is trained on that says a value of the component
(`value_span`, `data.pairs.VALUE_WORDS`): steering needs no aligned source, only the words.

Methods: DiffMean over those tokens (mean of the site's stream at the words of validation examples
with the target value minus without); the SAE's clamp and additive on the latents whose mean code
over those tokens differs most; and the SAE's codes moved toward their mean where the value holds
(`patch_at_span`: every latent whose mean there differs by at least `steering.concepts.patch_share`
of the largest difference, so that a value's latents turn on and the other values' turn off, as
the interchange's best latents do). The random twin's the same way.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import torch

from causalgear.data.pairs import VALUE_WORDS, example_pairs
from causalgear.estimators import diffmean
from causalgear.interventions.cause_isolate import site_rows
from causalgear.interventions.specs import AddLatent, AddVector, Clamp, MoveCodes

NO_SPAN = torch.zeros(0, dtype=torch.long)


def attribute_span(tokenizer, example, attribute: str) -> torch.Tensor:
    """Prompt positions of the words that say `attribute`'s value: the union of every swap's span."""
    spans = [p.span for p in example_pairs(tokenizer, example, attribute, random.Random(0))]
    if not spans:
        return NO_SPAN
    return torch.arange(min(a for a, _ in spans), max(b for _, b in spans) + 1)


def _value_pattern(words: str) -> str:
    """A phrase's words as a regex whose group 1 is what the span covers: a leading "the" must be
    there but is not the value's word (the interchange's span leaves it out too)."""
    if words.startswith("the "):
        return rf"\bthe ({re.escape(words.removeprefix('the '))})\b"
    return rf"\b({re.escape(words)})\b"


def value_span(tokenizer, example, attribute: str) -> torch.Tensor:
    """The interchange's span (`attribute_span`); where the prompt has none, the prompt positions of
    the tokens of every phrase in the question that says a value of `attribute` (`VALUE_WORDS`)."""
    span = attribute_span(tokenizer, example, attribute)
    if len(span):
        return span
    start = example.question_span[0]
    chars = [(start + m.start(1), start + m.end(1)) for words in VALUE_WORDS[attribute]
             for m in re.finditer(_value_pattern(words), example.question)]
    offsets = tokenizer(example.prompt, add_special_tokens=False, return_offsets_mapping=True).offset_mapping
    return torch.tensor([i for i, (a, b) in enumerate(offsets) if any(a < e and s < b for s, e in chars)],
                        dtype=torch.long)


def moved_latents(delta: torch.Tensor, share: float) -> list[int]:
    """The latents whose mean code differs by at least `share` of the largest difference, largest first."""
    size = delta.abs()
    order = torch.argsort(size, descending=True)
    return [int(j) for j in order if size[j] >= share * size[order[0]] and size[j] > 0]


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
               steering) -> tuple[dict, dict]:
    """The at-span methods' grids: name -> (points (latent or None, scale), point -> intervention per
    split), and name -> what the JSON says of the method beside its point (the latents a patch moves).
    `tools`: "sae" (and "random_sae") -> (the SAE, its Interventions); `steering`: the config group
    (its grids: methods.alphas and methods.clamps; concepts.latents, concepts.patch and patch_share)."""
    tok, concepts = bench.tokenizer, steering.concepts
    alphas, clamps = list(steering.methods.alphas), list(steering.methods.clamps)
    at = {split: tuple(value_span(tok, e, component) for e in examples) for split, examples in prompts.items()}
    saes = tuple(sae for sae, _ in tools.values())
    h_pos, *z_pos = span_means(bench, pos, [value_span(tok, e, component) for e in pos], saes)
    h_neg, *z_neg = span_means(bench, neg, [value_span(tok, e, component) for e in neg], saes)
    if not len(h_pos) or not len(h_neg):
        return {}, {}

    def per_split(spec: Callable, made) -> dict:
        return {split: made.make(spec(spans)) for split, spans in at.items()}

    device = next(bench.model.parameters()).device
    direction = diffmean(h_pos, h_neg).to(device)
    sae_tools = tools["sae"][1]
    grids = {"diffmean_at_span": ([(None, a) for a in alphas],
                                  lambda p: per_split(lambda s: AddVector(direction, p[1], s), sae_tools))}
    notes = {}
    for i, (name, (_, made)) in enumerate(tools.items()):
        prefix = "" if name == "sae" else f"{name}_"
        delta = diffmean(z_pos[i], z_neg[i])
        latents = torch.argsort(delta, descending=True)[:concepts.latents].tolist()
        grids[f"{prefix}clamp_at_span"] = ([(j, c) for j in latents for c in clamps],
                                           lambda p, m=made: per_split(lambda s: Clamp(p[0], p[1], s), m))
        grids[f"{prefix}additive_at_span"] = ([(j, a) for j in latents for a in alphas],
                                              lambda p, m=made: per_split(lambda s: AddLatent(p[0], p[1], s), m))
        moved = moved_latents(delta, concepts.patch_share)
        if moved:
            target = z_pos[i].mean(0)[moved]
            grids[f"{prefix}patch_at_span"] = ([(None, a) for a in concepts.patch], lambda p, m=made, js=tuple(
                moved), v=target: per_split(lambda s: MoveCodes(js, v, p[1], s), m))
            notes[f"{prefix}patch_at_span"] = {"moved_latents": moved}
    return grids, notes
