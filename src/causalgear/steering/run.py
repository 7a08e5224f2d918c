"""`causalgear steer`: GrAInS-style and additive steering of one SAE coordinate, beside the methods
and baselines registered in `steering.methods`, measured by execution accuracy.

Each method's point (latent and scale) is chosen on the selection split (the held-out split
`evaluate` chose the coordinate on) and reported on the disjoint test split (`steering.search`),
with a paired bootstrap interval against the unsteered model, per command set, and the share of
outputs changed. This module only orchestrates: the split and the feature (`steering.target`),
the arms (`steering.arms`), the methods (`steering.methods`), their measurement
(`steering.measure`) and the files and summary (`steering.outputs`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from causalgear.io import read_json, write_json
from causalgear.results import to_json, twin_label
from causalgear.steering.arms import IN_DISTRIBUTION, IN_SELECTION, SELECTION, TEST, Arm, ArmMaker
from causalgear.steering.candidates import contrastive_latents
from causalgear.steering.concepts.steer import concept_steering
from causalgear.steering.conditional import fit_detector
from causalgear.steering.measure import Measured, measure
from causalgear.steering.methods import ALWAYS, method
from causalgear.steering.methods.base import Gated, MethodSkipped, SteeringMethod, twin_or_why
from causalgear.steering.methods.context import SteerContext
from causalgear.steering.methods.grains import Steerer
from causalgear.steering.outputs import print_summary, steering_result, write_outputs
from causalgear.steering.target import causal_json_at, choose_splits, resolve_feature
from causalgear.workbench import HeldOut, Workbench

Paired = tuple[SteeringMethod, SteeringMethod | None]  # a method and its twin on the random-weight SAE


def steer(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.sae.paths import saved_width
    from causalgear.workbench import require_sae_path

    require_sae_path(cfg, "steer")
    target = cfg.steering.target
    resolve_feature(target, saved_width(cfg.sae.path))  # a bad feature is named before the model loads
    causal = None
    if target.causal_path is not None and causal_json_at(target.causal_path).is_file():  # the handles
        causal = read_json(causal_json_at(target.causal_path), "rerun `causalgear evaluate`")
    return steer_on(Workbench.load(cfg, "steer"), out_dir, causal=causal)


def make_arms(bench: Workbench, steerer: Steerer, held: HeldOut, shared: dict | None = None) -> dict[str, Arm]:
    """The steering split's halves, attributed; off data.eval_split, that split's too (its test half
    is the regression check, its selection half what detectors and probes also fit on). `shared`:
    the in-distribution arms of an earlier split of the same run, reused (they do not depend on the
    split), and filled where empty."""
    maker = ArmMaker(bench, steerer)
    arms = {SELECTION: maker.make(SELECTION, held.select, attribute=True),
            TEST: maker.make(TEST, held.test, attribute=True)}
    if held.split != bench.cfg.data.eval_split:
        shared = {} if shared is None else shared
        if not shared:
            shared[IN_DISTRIBUTION] = maker.make(IN_DISTRIBUTION, bench.splits().test, attribute=True)
            shared[IN_SELECTION] = maker.make(IN_SELECTION, bench.splits().select)
        arms.update(shared)
    return arms


def make_methods(ctx: SteerContext) -> tuple[list[Paired], dict[str, str], dict | None]:
    """The feature's methods and the extras, each built or skipped with its reason, with its twin on
    the random-weight SAE where `steering.methods.twins` names it; with `steering.methods.conditional`,
    each one's gated variant (and the detector's verdict on every arm)."""
    methods, skipped = [], {}
    for name in (*ALWAYS, *ctx.s.methods.extra):
        try:
            made = method(name)(ctx)
        except MethodSkipped as why:
            skipped[name] = str(why)
            continue
        methods.append((made, twin_or_why(made, skipped, name) if name in ctx.s.methods.twins else None))
    fires = None
    if ctx.s.methods.conditional:
        try:
            detector = fit_detector(ctx)
        except MethodSkipped as why:
            skipped["gated"] = str(why)
        else:
            fires = {arm.key: detector.fires(ctx.question_features(arm)) for arm in ctx.measured_arms()}
            methods += [(Gated(m, fires), t and Gated(t, fires)) for m, t in methods]
    return methods, skipped, fires


def steer_on(bench: Workbench, out_dir: Path, chosen: int | None = None, causal: dict | None = None) -> dict:
    """Steering of `steering.target.feature`, else of `chosen` (evaluate's choice, from the
    pipeline), else of the coordinate named by the causal.json in `steering.target.causal_path`.
    `causal`: evaluate's result (in memory from the pipeline, else read there), whose handles aim
    `steering.target.split=auto` and `=handles`. With `handles`, steering.json is the first split's
    (the most room), each further split's in `other_splits` and its files in a subdir named after it."""
    feature, source = resolve_feature(bench.cfg.steering.target, bench.sae.d_sae, chosen)
    start = time.monotonic()
    (split, split_choice), *others = choose_splits(bench, causal)
    if split is None and bench.cfg.steering.target.split in ("auto", "handles"):  # a fallback is said, not only kept
        print(f"steering.target.split={bench.cfg.steering.target.split} falls back: {split_choice['rule']} "
              f"({bench.cfg.data.eval_split})")
    steerer = Steerer(bench.cfg.steering, bench.tokenizer, bench.sae, bench.site, feature)
    shared: dict[str, Arm] = {}  # the in-distribution arms: made and attributed once for every split
    result = steer_split(bench, out_dir, steerer, source, split, split_choice, shared)
    if others:
        result["other_splits"] = {}
        for other, why in others:
            # concept steering does not depend on the split: measured once, with the first
            result["other_splits"][other] = steer_split(bench, out_dir / other, steerer, source, other, why,
                                                        shared, concepts=False)
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "steering.json", result)
    return result


def steer_split(bench: Workbench, out_dir: Path, steerer: Steerer, source: str, split: str | None,
                split_choice: dict, shared: dict | None = None, concepts: bool = True) -> dict:
    """Every method chosen on `split`'s selection half and reported on its test half, written to
    `out_dir` (steering.json, attributions, plots) and printed as one table."""
    s = bench.cfg.steering
    start = time.monotonic()
    held, feature = bench.splits(split), steerer.latent
    arms = make_arms(bench, steerer, held, shared)
    sel = arms[SELECTION]
    # the SAE methods also try the latents GrAInS' contrastive objective ranks first on selection
    n = s.methods.candidates
    ranked = contrastive_latents(bench, list(sel.examples), list(sel.preds), sel.base, n, steerer.sign)
    ctx = SteerContext.of(bench, feature, [feature] + [j for j in ranked if j != feature][:n], held.split, arms)
    timings = {"attribute and unsteered": round(time.monotonic() - start, 1)}
    began = time.monotonic()
    methods, skipped, fires = make_methods(ctx)  # the detector, the probes, the trained vectors
    timings["fit and train methods"] = round(time.monotonic() - began, 1)
    errors = [a.completeness_error for a in arms[TEST].attributed if a.completeness_error is not None]
    completeness = float(np.mean(errors)) if errors else None  # GrAInS' attributions, with grains and its gated
    results: dict[str, Measured] = {}
    for m, paired in methods:
        began = time.monotonic()
        results[m.name] = measure(m, completeness)
        timings[m.name] = round(time.monotonic() - began, 1)
        if paired is not None:
            began = time.monotonic()
            results[m.name] = results[m.name].paired(measure(paired, completeness))
            timings[twin_label(m.name)] = round(time.monotonic() - began, 1)
    concept = None
    if s.concepts.targets and concepts:
        began = time.monotonic()
        concept = concept_steering(bench, bench.cfg.seed)
        timings["concept steering"] = round(time.monotonic() - began, 1)
    result = to_json(steering_result(ctx, source, split_choice, fires, {n: r.result for n, r in results.items()},
                                     skipped, concept, timings))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_outputs(out_dir, bench, arms, results, result)
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "steering.json", result)
    print_summary(result, out_dir)
    return result
