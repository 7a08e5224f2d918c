"""Probe-guided steering: read which value the prompt asks for with a probe, then push the residual
toward that value.

For a shift split whose element has one categorical SQL component (the ORDER BY direction for
`order`, the WHERE operator for `operator`), a logistic-regression probe on the question's
activations at the site (mean and max over its tokens) is fitted to the gold value ("none" when
the query has no such component) on selection prompts (the shift split's and the
in-distribution split's). Each value v has a DiffMean
direction: the mean activation at the position that writes v's first SQL token (teacher-forced
gold) over the selection examples with v, less the mean over all of them. Steering adds α × the
direction of the value the probe reads, at every position, generation included. The probe and
the directions use selection examples only; α is chosen on selection like every other method's.

The method (`ConceptProbeSteering`) runs on a split only: a concept target has no shifted element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from causalgear.data.components import components
from causalgear.estimators import diffmean
from causalgear.interventions.specs import PerExample
from causalgear.steering.conditional import fit_question_probe
from causalgear.steering.methods.base import MethodSkipped, Point, SteeringMethod

if TYPE_CHECKING:
    from causalgear.workbench import Workbench

# the shift element -> the component whose value its held-out phrasing names
COMPONENT_OF = {"order": "order_direction", "operator": "where_operator"}


def writer_activation(bench: Workbench, example, value: str) -> torch.Tensor | None:
    """The site's activation at the position that writes `value`'s first token of the gold SQL
    (teacher-forced), or None when the SQL does not spell the value out."""
    at = example.sql.rfind(value)
    if at < 0:
        return None
    prompt_ids = bench.tokenizer(example.prompt).input_ids
    sql = bench.tokenizer(example.sql, add_special_tokens=False, return_offsets_mapping=True)
    k = next((i for i, (start, end) in enumerate(sql.offset_mapping) if start <= at < end), None)
    if k is None:
        return None
    ids = torch.tensor([prompt_ids + sql.input_ids], device=bench.model.device)
    with torch.no_grad():
        return bench.site.run(ids)[0, len(prompt_ids) + k - 1].float().cpu()


class ConceptProbe:
    """Probe and per-value directions for one component, from selection examples and their
    `question_features`."""

    def __init__(self, bench: Workbench, examples, features: np.ndarray, component: str, seed: int):
        values = [(components(e.sql) or {}).get(component) for e in examples]
        acts = {i: writer_activation(bench, examples[i], v) for i, v in enumerate(values) if v is not None}
        # a prompt without the component is read as "none", and gets no push
        labels = ["none" if v is None else v for v in values]
        keep = [i for i in range(len(examples)) if values[i] is None or acts[i] is not None]
        self.component = component
        named = sorted({labels[i] for i in keep} - {"none"})
        if len(named) < 2:
            raise ValueError(f"the selection examples hold fewer than two values of {component}")
        self.probe = fit_question_probe(features[keep], [labels[i] for i in keep], seed)
        stacked = {v: torch.stack([acts[i] for i in keep if labels[i] == v]) for v in named}
        every = torch.cat(list(stacked.values()))
        self.directions = {v: diffmean(a, every) for v, a in stacked.items()} | {"none": torch.zeros_like(every[0])}

    def read(self, features: np.ndarray) -> list[str]:
        """The value each prompt's question names, as the probe reads it."""
        return list(self.probe.predict(features))

    def vectors(self, features: np.ndarray) -> torch.Tensor:
        """[n, d]: each prompt's direction, that of the value the probe reads."""
        return torch.stack([self.directions[v] for v in self.read(features)])


def reach(bench: Workbench, element: str, layers: list[int], n: int) -> dict:
    """Can a probe read the value a held-out phrasing names at all? Per layer, a question probe (as
    probe-guided steering fits it) fitted on in-distribution selection prompts, whose phrasings
    training saw, and scored on at most `n` prompts of the element's validation twin (the held-out
    phrasing) and on as many in-distribution test prompts; `chance`: the held-out side's most
    common value. Validation data only: nothing of the shift's test split is read."""
    from causalgear.data.loading import load_split
    from causalgear.models.site import Site
    from causalgear.steering.arms import question_features

    component = COMPONENT_OF[element]
    fit, in_dist = bench.splits().select, bench.splits().test[:n]
    held = load_split(bench.cfg, f"validation_shift.{element}")[:n]

    def labels(examples) -> np.ndarray:
        return np.array([(components(e.sql) or {}).get(component) or "none" for e in examples])

    y_fit, y_held, y_in = labels(fit), labels(held), labels(in_dist)
    values, counts = np.unique(y_held, return_counts=True)
    out = {"element": element, "component": component, "n_fit": len(fit), "n_held_out": len(held),
           "chance": float(counts.max() / counts.sum()), "majority": str(values[counts.argmax()]), "layers": {}}
    for layer in layers:
        at = Site(bench.model, layer, bench.site.kind)
        probe = fit_question_probe(question_features(bench, fit, at), y_fit, bench.cfg.seed)

        def accuracy(examples, y: np.ndarray, at=at, probe=probe) -> float:
            return float((probe.predict(question_features(bench, examples, at)) == y).mean())

        out["layers"][layer] = {"held_out_phrasing": accuracy(held, y_held), "in_distribution": accuracy(in_dist, y_in)}
    return out


class ConceptProbeSteering(SteeringMethod):
    name = "concept_probe"

    def __init__(self, ctx):
        super().__init__(ctx)
        split = getattr(ctx, "split", "")  # a concept target has no split, so no shifted element
        element = split.removeprefix("test_shift.") if split.startswith("test_shift.") else None
        if element not in COMPONENT_OF:
            raise MethodSkipped(f"split {split!r} shifts no element with one categorical SQL component "
                                f"(the shift splits of {', '.join(COMPONENT_OF)})")
        fitting = ctx.fitting_arms()
        try:
            probe = ConceptProbe(ctx.bench, [e for arm in fitting for e in arm.examples],
                                 np.vstack([ctx.question_features(arm) for arm in fitting]), COMPONENT_OF[element],
                                 ctx.seed)
        except ValueError as err:
            raise MethodSkipped(str(err)) from None
        # each measured prompt's vector: that of the value the probe reads in its question
        self.vectors = {arm.key: probe.vectors(ctx.question_features(arm)) for arm in ctx.measured_arms()}

    def grid(self) -> list[Point]:
        return [(None, v) for v in self.ctx.alphas]

    def intervention(self, arm, point: Point):
        return self.ctx.make(arm, PerExample(self.vectors[arm.key][arm.rows], point[1], self.ctx.positions(arm)))
