"""Steering arms: one prompt list each, with its unsteered answers and what runs it.

An arm is made once and never changed. What a method learns about an arm's prompts (the
detector's verdict, a probe's per-prompt vector) it keeps itself, by the arm's `key` and the
arm's `rows` (its prompts' positions in that key's whole list), so that a subset of an arm (the
prompts a gate lets through) reads the same per-prompt values as the whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from causalgear.interventions.factory import Interventions
from causalgear.interventions.types import Intervention, Stacked, stackable
from causalgear.models.accuracy import Runner
from causalgear.models.site import Site

if TYPE_CHECKING:
    from causalgear.workbench import Workbench

# the arms a steering run makes: the steering split's halves and, off data.eval_split, the
# in-distribution split's (its test half measured, its selection half fitted on)
SELECTION, TEST = "selection", "test"
IN_DISTRIBUTION, IN_SELECTION = "in-distribution test", "in-distribution selection"


@dataclass(frozen=True)
class Arm:
    key: str
    rows: np.ndarray  # positions of these prompts in the whole list `key` names
    examples: tuple
    runner: Runner
    interventions: Interventions
    base: np.ndarray  # 1/0: the unsteered answer is right
    preds: tuple[str, ...]
    attributed: tuple | None  # each prompt's GrAInS attribution, where made
    maker: ArmMaker = field(repr=False, compare=False)

    def runner_for(self, examples: list) -> Runner:
        """What generates and scores `examples` (several arms' prompts stacked)."""
        return self.maker.runner(examples)

    def judge(self, preds: list[str]) -> np.ndarray:
        """1/0 per prompt: the SQL written is right (execution accuracy)."""
        return self.runner.score(preds)

    def subset(self, idx: np.ndarray) -> Arm:
        """The arm of the prompts at `idx` (no generation: their unsteered answers come along)."""
        return self.maker.make(self.key, [self.examples[i] for i in idx], base=self.base[idx],
                               preds=[self.preds[i] for i in idx], rows=self.rows[idx],
                               attributed=None if self.attributed is None else [self.attributed[i] for i in idx])


@dataclass
class ArmMaker:
    """Makes arms over `bench` whose interventions perturb with `steerer` (GrAInS)."""

    bench: Workbench
    steerer: object

    def runner(self, examples: list):
        """What generates and scores `examples` (any list: e.g. several arms' prompts stacked)."""
        return self.bench.runner(examples)

    def make(self, key: str, examples: list, *, attribute: bool = False, base: np.ndarray | None = None,
             preds: list[str] | None = None, attributed: list | None = None, rows: np.ndarray | None = None) -> Arm:
        """An arm of `examples`: its unsteered answers generated unless given, its prompts attributed
        (`attribute`) against those answers unless given."""
        bench = self.bench
        runner = self.runner(examples)
        if base is None:
            base, preds = runner.correct()
        if attribute:
            attributed = self.steerer.attribute_many([e.prompt for e in examples], list(preds),
                                                     desc=f"attribute ({key})")
        perturber = self.steerer.perturber(attributed) if attributed is not None else None
        return Arm(key, np.arange(len(examples)) if rows is None else rows, tuple(examples), runner,
                   Interventions(bench.site, bench.sae, bench.stats, perturber=perturber), base, tuple(preds),
                   None if attributed is None else tuple(attributed), self)


def predict_each(runner, parts: list[tuple[list, Intervention]]) -> list[list[str]]:
    """Each part's SQL (its prompts under its intervention; `runner(examples)` makes what generates),
    the parts generated together where their interventions stack (`Stacked`), else one by one."""
    interventions = [intervention for _, intervention in parts]
    if len(parts) < 2 or not stackable(interventions):
        return [runner(list(examples)).predict(intervention) for examples, intervention in parts]
    preds = runner([e for examples, _ in parts for e in examples]).predict(
        Stacked(interventions, [len(examples) for examples, _ in parts]))
    ends = np.cumsum([0] + [len(examples) for examples, _ in parts])
    return [preds[start:end] for start, end in zip(ends[:-1], ends[1:], strict=True)]


def question_features(bench: Workbench, examples, site: Site | None = None) -> np.ndarray:
    """[n, 2d]: the mean and the max of the site's activation (`site`: another than the workbench's)
    over each prompt's question tokens."""
    site = bench.site if site is None else site
    out = []
    with torch.no_grad():
        for e in examples:
            enc = bench.tokenizer(e.prompt, return_offsets_mapping=True)
            end = e.question_span[1]
            n = max(1, sum(1 for start, _ in enc.offset_mapping if start < end))
            h = site.run(torch.tensor([enc.input_ids], device=bench.model.device))[0, :n].float()
            out.append(torch.cat([h.mean(0), h.max(0).values]).cpu().numpy())
    return np.array(out)
