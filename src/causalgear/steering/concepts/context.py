"""Concept steering's target, as its methods read it: the prompts a method runs on (`ConceptArm`, one
per split, judged by the three judges) and what a method of the SAE, the random-weight twin or the
residual reads (`ConceptContext`): the latents whose mean code differs most between validation
examples with and without the value, the residual's difference of means, where it acts (every
position, or the words that say the value) and what a trained method fits on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from causalgear.estimators import diffmean
from causalgear.interventions.factory import Interventions
from causalgear.interventions.specs import Positions
from causalgear.models.teacher_forcing import prompt_sql_batch
from causalgear.steering.concepts.forced import forced_examples
from causalgear.steering.concepts.judges import judges, parse_target
from causalgear.steering.concepts.spans import span_means, value_span
from causalgear.steering.methods.base import MethodSkipped
from causalgear.steering.methods.context import MethodContext

if TYPE_CHECKING:
    from causalgear.workbench import Workbench

SELECTION, TEST = "selection", "test"


@dataclass(frozen=True)
class ConceptArm:
    """One split's prompts (`key`: selection or test; `rows`: their positions in its whole list),
    each one's span where the methods act at the words (None: every position), judged per output."""

    key: str
    rows: np.ndarray
    examples: tuple
    spans: tuple | None
    interventions: Interventions
    bench: Workbench = field(repr=False, compare=False)
    component: str = ""
    value: str = ""

    def subset(self, idx: np.ndarray) -> ConceptArm:
        return replace(self, rows=self.rows[idx], examples=tuple(self.examples[i] for i in idx),
                       spans=None if self.spans is None else tuple(self.spans[i] for i in idx))

    def runner_for(self, examples: list):
        return self.bench.runner(list(examples))

    def judge(self, preds: list[str]) -> np.ndarray:
        """[n, 3]: each output's concept, instruction and fluency judges."""
        budget = self.bench.budget
        return np.array([judges(e, p, self.component, self.value, budget)
                         for e, p in zip(self.examples, preds, strict=True)])


def moved_latents(delta: torch.Tensor, share: float) -> list[int]:
    """The latents whose mean code differs by at least `share` of the largest difference, largest first."""
    size = delta.abs()
    order = torch.argsort(size, descending=True)
    return [int(j) for j in order if size[j] >= share * size[order[0]] and size[j] > 0]


@dataclass(frozen=True)
class Reading:
    """What one SAE's codes say of the value: the latents whose mean code differs most between
    examples with it and without (best first), and those a patch moves with their mean where it holds."""

    latents: list[int]
    moved: list[int]
    toward: torch.Tensor

    @classmethod
    def of(cls, with_value: torch.Tensor, without: torch.Tensor, concepts) -> Reading:
        delta = diffmean(with_value, without)
        moved = moved_latents(delta, concepts.patch_share)
        return cls(torch.argsort(delta, descending=True)[:concepts.latents].tolist(), moved,
                   with_value.mean(0)[moved])


@dataclass
class ConceptContext(MethodContext):
    """A concept target (`component:VALUE`) where its methods act (`where`: all or span)."""

    target: str = ""
    where: str = "all"
    direction: torch.Tensor | None = None
    readings: dict[str, Reading | None] = field(default_factory=dict)
    selection: tuple = ()

    @property
    def reading(self) -> Reading:
        return self.readings["twin" if self.on_twin else "sae"]

    def positions(self, arm: ConceptArm) -> Positions:
        return "all" if arm.spans is None else arm.spans

    def diffmean(self) -> torch.Tensor:
        return self.direction

    def reference_norm(self) -> float:
        return float(self.direction.norm())

    def training(self) -> tuple[list, str]:
        return forced_examples(self.selection, *parse_target(self.target)), "all"

    def moved(self) -> tuple[list[int], torch.Tensor]:
        if not self.reading.moved:
            raise MethodSkipped("no latent's mean code differs between examples with the value and without")
        return self.reading.moved, self.reading.toward

    def seed_label(self, label: str) -> str:
        return f"{self.target} {label}"

    def twin_latents(self) -> list[int]:
        return self.readings["twin"].latents


def token_means(bench: Workbench, examples, batch_size: int = 32, saes: tuple = ()) -> tuple[torch.Tensor, ...]:
    """Each example's residual and SAE code at the site (and each of `saes`' codes), averaged over its
    prompt and gold SQL tokens."""
    device = next(bench.model.parameters()).device
    saes = (bench.sae, *saes)
    resid, codes = [], [[] for _ in saes]
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, mask, _ = prompt_sql_batch(bench.tokenizer, examples[i:i + batch_size], device)
            h = bench.site.run(ids, mask).float()
            m = mask.unsqueeze(-1).float()
            resid.append(((h * m).sum(1) / m.sum(1)).cpu())
            for out, sae in zip(codes, saes, strict=True):
                out.append(((sae.encode(h) * m).sum(1) / m.sum(1)).cpu())
    return torch.cat(resid), *(torch.cat(c) for c in codes)


def concept_context(bench: Workbench, target: str, where: str, pos: list, neg: list, selection: list,
                    seed: int) -> ConceptContext | None:
    """The context of `target` at `where` (every position: means over each example's tokens; at the
    words: over its span), read from the validation examples with the value (`pos`) and without;
    None where no example has a span there."""
    twin = (bench.twin,) if bench.cfg.causal.random_sae else ()
    component, _ = parse_target(target)
    if where == "all":
        (h_pos, *z_pos), (h_neg, *z_neg) = token_means(bench, pos, saes=twin), token_means(bench, neg, saes=twin)
    else:
        saes = (bench.sae, *twin)
        h_pos, *z_pos = span_means(bench, pos, [value_span(bench.tokenizer, e, component) for e in pos], saes)
        h_neg, *z_neg = span_means(bench, neg, [value_span(bench.tokenizer, e, component) for e in neg], saes)
        if not len(h_pos) or not len(h_neg):
            return None
    concepts = bench.cfg.steering.concepts
    readings = {"sae": Reading.of(z_pos[0], z_neg[0], concepts),
                "twin": Reading.of(z_pos[1], z_neg[1], concepts) if twin else None}
    device = next(bench.model.parameters()).device
    return ConceptContext(bench, readings["sae"].latents, seed, target=target, where=where,
                          direction=diffmean(h_pos, h_neg).to(device), readings=readings,
                          selection=tuple(selection))


def concept_arms(bench: Workbench, ctx: ConceptContext, prompts: dict[str, list]) -> dict[str, ConceptArm]:
    """The selection and test arms of a target at `ctx.where`."""
    component, value = parse_target(ctx.target)
    tools = Interventions(bench.site, bench.sae, bench.stats)
    return {key: ConceptArm(key, np.arange(len(examples)), tuple(examples),
                            None if ctx.where == "all" else tuple(value_span(bench.tokenizer, e, component)
                                                                  for e in examples),
                            tools, bench, component, value)
            for key, examples in prompts.items()}
