"""A steering method measured: its point chosen on the selection arm, reported on the test arm
(and, off data.eval_split, on the in-distribution test arm at the same point), each against the
unsteered answers with a paired bootstrap interval, fixes and breaks, per command set and per
SQL component."""

from __future__ import annotations

import numpy as np

from causalgear.data.components import COMPONENTS
from causalgear.interventions.profile import correctness
from causalgear.interventions.statistics import flips, paired_bootstrap
from causalgear.steering.arms import IN_DISTRIBUTION, SELECTION, TEST
from causalgear.steering.methods.base import SteerContext, SteeringMethod
from causalgear.steering.search import select_then_report


def steered_summary(examples, base: np.ndarray, treated: np.ndarray, base_preds, preds, n_boot: int,
                    seed: int) -> dict:
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
    return {"baseline_accuracy": float(base.mean()), "steered_accuracy": float(treated.mean()), **iv.as_dict(),
            **flips(base, treated), "per_group": groups, "component_flips": components,
            "changed_share": float(np.mean([a != b for a, b in zip(base_preds, preds, strict=True)]))}


def measure(ctx: SteerContext, method: SteeringMethod) -> dict:
    """The method's chosen point, its selection curve and its test (and in-distribution) summaries;
    `test_predictions` / `test_correct` are for the attributions page, not steering.json."""
    causal = ctx.bench.cfg.causal
    sel, tst = ctx.arms[SELECTION], ctx.arms[TEST]
    unsteered = {"latent": None, "scale": 0.0, "accuracy": float(sel.base.mean())}

    def per_prompt(points, idx: np.ndarray) -> list[np.ndarray]:
        answers = method.run_many(sel.subset(idx), points)
        return [answers[p][0] for p in points]

    choice = select_then_report(method.grid(), lambda p: float(method.run(sel, p)[0].mean()),
                                lambda p: method.run(tst, p), measure="accuracy",
                                desc=f"{method.name} scales (selection)",
                                max_extensions=ctx.s.grid_extensions,
                                per_prompt=per_prompt if ctx.s.methods.halving else None,
                                n_prompts=len(sel.examples))
    treated, preds = choice.report
    # a steered result is reported whichever scale wins; this says when none beat no steering
    result = {"latent": choice.latent, "scale": choice.scale, **method.described(), "scale_at_grid_edge": choice.edge,
              "selection_curve": [unsteered, *choice.curve],
              "unsteered_best_on_selection": unsteered["accuracy"] > choice.score,
              "test": steered_summary(tst.examples, tst.base, treated, tst.preds, preds, causal.n_boot, ctx.seed),
              "test_predictions": preds, "test_correct": treated}
    if IN_DISTRIBUTION in ctx.arms:
        on = ctx.arms[IN_DISTRIBUTION]
        in_treated, in_steered = method.run(on, (choice.latent, choice.scale))
        result["in_distribution"] = steered_summary(on.examples, on.base, in_treated, on.preds, in_steered,
                                                    causal.n_boot, ctx.seed)
    return result
