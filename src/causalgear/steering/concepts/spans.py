"""Where concept steering acts at the words that say the value (`steering.concepts.methods.span`):
the prompt tokens of the words that say the component's value ("ascending", "the average"), where
cause / isolate's interchange sets the stream (`causalgear.data.pairs`), instead of every position.
No source prompt is needed: the push comes from the validation examples.

Where a prompt has no swap of equal length (a count, a sum said "the sum of", two aggregates), the
span is the tokens of every phrase the model is trained on that says a value of the component
(`value_span`, `data.pairs.VALUE_WORDS`): steering needs no aligned source, only the words.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

import torch

from causalgear.data.pairs import VALUE_WORDS, example_pairs
from causalgear.interventions.cause_isolate import site_rows

if TYPE_CHECKING:
    from causalgear.workbench import Workbench

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


def span_means(bench: Workbench, examples: list, spans: list[torch.Tensor], saes: tuple) -> tuple[torch.Tensor, ...]:
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
