"""Concept steering in AxBench's form, judged deterministically by execution and the component parser
(`concepts.judges`): a target over the same registered methods the split runs (`steering.methods`).

Everything is chosen on the validation split and reported on data.eval_split (at most
`steering.concepts.prompts` prompts each): the SAE latents (the `steering.concepts.latents` whose
mean code differs most between validation examples with and without the value), each method's
latent and scale. `steering.concepts.methods` names the methods per place they act: `all` (every
position, means over each example's tokens) and `span` (only at the words that say the value, where
an interchange acts, means over those words; a method there is reported as `<name>_at_span`). Each
method that acts through the SAE is measured beside its twin on the random-weight SAE, whose latents
are chosen the same way on the twin (`twin` in its entry).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from causalgear.data.components import components
from causalgear.data.loading import load_split
from causalgear.results import ConceptMethod, ConceptTarget, Skipped, Unsteered
from causalgear.steering.concepts.context import SELECTION, TEST, ConceptArm, concept_arms, concept_context
from causalgear.steering.concepts.judges import harmonic, has_value, parse_target, scored
from causalgear.steering.methods import method
from causalgear.steering.methods.base import MethodSkipped, SteeringMethod, twin_or_why
from causalgear.steering.search import select_then_report

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


def concept_steering(bench: Workbench, seed: int, sae_only: bool = False) -> dict[str, ConceptTarget | Skipped]:
    """Every target of `steering.concepts.targets`: each method's judges and score on the eval split
    (`sae_only`: the unsteered score and the methods that act through the SAE, with their twins)."""
    s, cfg = bench.cfg.steering, bench.cfg
    if "validation_split" not in bench.source.supports:
        why = f"data={cfg.data.name} has no validation split to choose on"
        return {t: Skipped(skipped=why) for t in s.concepts.targets}
    validation, evaluation = load_split(cfg, "validation"), load_split(cfg, cfg.data.eval_split)
    return {target: steer_concept(bench, target, validation, evaluation, seed, sae_only)
            for target in s.concepts.targets}


def steer_concept(bench: Workbench, target: str, validation, evaluation, seed: int,
                  sae_only: bool = False) -> ConceptTarget | Skipped:
    """One target: its prompts, the unsteered score and every method's (with its twin's)."""
    component, value = parse_target(target)
    s = bench.cfg.steering
    flags = [has_value(components(e.sql), component, value) for e in validation]
    pos = [e for e, f in zip(validation, flags, strict=True) if f]
    neg = [e for e, f in zip(validation, flags, strict=True) if f is False]
    prompts = {SELECTION: neg[:s.concepts.prompts],
               TEST: [e for e in evaluation if has_value(components(e.sql), component, value) is False]
               [:s.concepts.prompts]}
    if not pos or not prompts[SELECTION] or not prompts[TEST]:
        return Skipped(skipped=f"validation or {bench.cfg.data.eval_split} has no example to steer towards "
                               f"{target} (validation examples with it: {len(pos)}; without: {len(neg)})")
    contexts = {where: concept_context(bench, target, where, pos, neg, prompts[SELECTION], seed)
                for where in dict.fromkeys(["all", *s.concepts.methods])}
    arms = {where: concept_arms(bench, ctx, prompts) for where, ctx in contexts.items() if ctx is not None}
    unsteered = arms["all"][TEST]
    written = unsteered.runner_for(list(unsteered.examples)).predict(None)
    methods: dict[str, Unsteered | ConceptMethod] = {
        "none": Unsteered(latent=None, scale=0.0, test=scored(unsteered.judge(written)))}
    skipped = {}
    for where, names in s.concepts.methods.items():
        if contexts[where] is None:
            continue
        for name in names:
            label = name if where == "all" else f"{name}_at_span"
            if sae_only and not method(name).acts_through_sae:
                continue
            try:
                made = method(name)(contexts[where])
            except MethodSkipped as why:
                skipped[label] = str(why)
                continue
            paired = twin_or_why(made, skipped, label)
            methods[label] = replace(measured(made, arms[where], label),
                                     twin=None if paired is None else measured(paired, arms[where], label))
    return ConceptTarget(n_select=len(prompts[SELECTION]), n_test=len(prompts[TEST]),
                         candidate_latents=contexts["all"].latents, methods=methods, skipped_methods=skipped or None)


def measured(made: SteeringMethod, arms: dict[str, ConceptArm], label: str) -> ConceptMethod:
    """A method's point chosen on the selection prompts by its score, its judges and score on test."""
    sel, tst = arms[SELECTION], arms[TEST]

    def per_prompt(points, idx: np.ndarray) -> list[np.ndarray]:
        answers = made.run_many(sel.subset(idx), points)
        return [harmonic(*answers[p][0].T) for p in points]

    choice = select_then_report(made.grid(), lambda p: scored(made.run(sel, p)[0]).score.rate,
                                lambda p: scored(made.run(tst, p)[0]),
                                desc=f"{made.ctx.target} {'random SAE ' if made.ctx.on_twin else ''}{label} "
                                     "(selection)", unit="setting", per_prompt=per_prompt, n_prompts=len(sel.examples))
    return ConceptMethod(latent=choice.latent, scale=choice.scale, scale_at_grid_edge=choice.edge,
                         selection_score=choice.score, test=choice.report, selection_curve=choice.curve,
                         described=made.described())
