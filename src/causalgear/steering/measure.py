"""A steering method measured: its point chosen on the selection arm, reported on the test arm
(and, off data.eval_split, on the in-distribution test arm at the same point), each against the
unsteered answers with a paired bootstrap interval, fixes and breaks, per command set and per
SQL component."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from causalgear.data.components import COMPONENTS
from causalgear.interventions.profile import correctness
from causalgear.interventions.statistics import flips, paired_bootstrap
from causalgear.results import SplitMethod, SteeredSummary
from causalgear.steering.arms import IN_DISTRIBUTION, SELECTION, TEST
from causalgear.steering.methods.base import SteeringMethod
from causalgear.steering.methods.context import SteerContext
from causalgear.steering.search import select_then_report


def steered_summary(examples, base: np.ndarray, treated: np.ndarray, base_preds, preds, n_boot: int,
                    seed: int) -> SteeredSummary:
    """Steered against unsteered on one prompt list: accuracy both ways, the paired interval of the
    difference, fixes and breaks (McNemar), per group, per SQL component, and the outputs changed."""
    iv = paired_bootstrap(base, treated, n_boot, seed)
    groups: dict[str, dict] = {}
    for g in sorted({e.group for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.group == g]
        groups[g] = {"n": len(idx), "baseline_accuracy": float(base[idx].mean()),
                     "steered_accuracy": float(treated[idx].mean())}
    before, after = correctness(examples, base_preds), correctness(examples, preds)
    components = {c: {"fixed": int(((before[:, i] == 0) & (after[:, i] == 1)).sum()),
                      "broken": int(((before[:, i] == 1) & (after[:, i] == 0)).sum())}
                  for i, c in enumerate(COMPONENTS)}
    return SteeredSummary(
        baseline_accuracy=float(base.mean()), steered_accuracy=float(treated.mean()), **iv.as_dict(),
        **flips(base, treated), per_group=groups, component_flips=components,
        changed_share=float(np.mean([a != b for a, b in zip(base_preds, preds, strict=True)])))


@dataclass
class Measured:
    """A method measured: its entry of steering.json (`results.SplitMethod`, its twin's inside it) and
    its test outputs at the chosen point, for the attributions page."""

    result: SplitMethod
    test_predictions: list[str]
    test_correct: np.ndarray
    twin: Measured | None = None

    def paired(self, twin: Measured | None) -> Measured:
        """This measurement with `twin` (the same method on the random-weight SAE) beside it."""
        if twin is None:
            return self
        return replace(self, result=replace(self.result, twin=twin.result), twin=twin)


def measure(method: SteeringMethod, completeness: float | None = None) -> Measured:
    """The method's chosen point, its selection curve and its test (and in-distribution) summaries.
    `completeness`: GrAInS' mean completeness error on test, reported by a method that reads it."""
    ctx: SteerContext = method.ctx
    causal = ctx.bench.cfg.causal
    sel, tst = ctx.arms[SELECTION], ctx.arms[TEST]
    unsteered = {"latent": None, "scale": 0.0, "accuracy": float(sel.base.mean())}

    def per_prompt(points, idx: np.ndarray) -> list[np.ndarray]:
        answers = method.run_many(sel.subset(idx), points)
        return [answers[p][0] for p in points]

    choice = select_then_report(method.grid(), lambda p: float(method.run(sel, p)[0].mean()),
                                lambda p: method.run(tst, p), measure="accuracy",
                                desc=f"{method.name}{' (random SAE)' if ctx.on_twin else ''} scales (selection)",
                                per_prompt=per_prompt,
                                n_prompts=len(sel.examples))
    treated, preds = choice.report
    in_distribution = None
    if IN_DISTRIBUTION in ctx.arms:
        on = ctx.arms[IN_DISTRIBUTION]
        in_treated, in_steered = method.run(on, (choice.latent, choice.scale))
        in_distribution = steered_summary(on.examples, on.base, in_treated, on.preds, in_steered, causal.n_boot,
                                          ctx.seed)
    result = SplitMethod(
        method=method.name, feature=ctx.feature, latent=choice.latent, scale=choice.scale,
        scale_at_grid_edge=choice.edge, selection_curve=[unsteered, *choice.curve],
        # a steered result is reported whichever scale wins; this says when none beat no steering
        unsteered_best_on_selection=unsteered["accuracy"] > choice.score,
        test=steered_summary(tst.examples, tst.base, treated, tst.preds, preds, causal.n_boot, ctx.seed),
        mean_completeness_error=completeness if method.reports_completeness else None,
        in_distribution=in_distribution, described=method.described())
    return Measured(result, preds, treated)
