"""What a run's stages write, as types: each field says what it holds (`docs/reference/outputs.md`
is generated from these docs, `causalgear.report.reference`), `to_json` writes any of them and `from_json`
reads any of them back. A method's random-SAE control is its `twin`, a field, never a name.

A field's metadata: `doc` (what it holds), `omit_none` (left out of the JSON where None: a figure
that only some runs have), `flatten` (a dict whose keys sit beside the type's own: what a method
says of itself, which each method declares).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Union

# what rewrites a run's file that is missing, damaged or not the shape its stage writes
REMEDY = "rerun the stage that wrote it (or the whole `causalgear pipeline`)"


def twin_label(name: str) -> str:
    """How a method's twin is shown beside it in a row, a table or a plot: a label to read, never a
    key to find the twin by (that is the `twin` field)."""
    return f"{name} (random SAE)"


def documented(doc: str, default: Any = MISSING, *, omit_none: bool = False, flatten: bool = False,
               default_factory: Any = MISSING) -> Any:
    """A field with its doc (and how it is written)."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"doc": doc, "omit_none": omit_none, "flatten": flatten})


def to_json(obj: Any) -> Any:
    """A result (or a dict or list of them) as the JSON it is written as."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            if f.metadata.get("flatten"):
                out.update(to_json(value))
            else:
                out[f.name] = to_json(value)
        return out
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    return obj


def _read(hint: Any, data: Any) -> Any:
    """`data` read as `hint` says: a result type, a union of them (the first that holds every key of
    the data and whose required fields are all there), or a dict or list of them; anything else as it is."""
    if data is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if is_dataclass(hint):
        return from_json(hint, data)
    if origin in (Union, types.UnionType):
        for arg in (a for a in args if a is not type(None)):
            if not is_dataclass(arg) or _fits(arg, data):
                return _read(arg, data)
        return data
    if origin is dict and len(args) == 2 and isinstance(data, dict):
        return {k: _read(args[1], v) for k, v in data.items()}
    if origin is list and args and isinstance(data, list):
        return [_read(args[0], v) for v in data]
    return data


def _fits(cls: type, data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    declared = {f.name for f in fields(cls)}
    open_ended = any(f.metadata.get("flatten") for f in fields(cls))
    return (open_ended or set(data) <= declared) and all(
        f.name in data for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING and not f.metadata.get("flatten"))


def from_json(cls: type, data: dict) -> Any:
    """A result of type `cls` from the JSON `to_json` wrote."""
    hints, kwargs, declared = typing.get_type_hints(cls), {}, {f.name for f in fields(cls)}
    for f in fields(cls):
        if f.metadata.get("flatten"):
            kwargs[f.name] = {k: v for k, v in data.items() if k not in declared}
        elif f.name in data:
            kwargs[f.name] = _read(hints[f.name], data[f.name])
    return cls(**kwargs)


@dataclass(frozen=True, kw_only=True)
class Proportion:
    """A share with its Wilson 95% interval."""

    rate: float | None = documented("the share (null where n is 0)")
    ci_low: float | None = documented("the interval's lower end")
    ci_high: float | None = documented("the interval's upper end")
    n: int = documented("how many it is a share of")


@dataclass(frozen=True, kw_only=True)
class SteeredSummary:
    """Steered against unsteered on one prompt list (`steering.measure.steered_summary`)."""

    baseline_accuracy: float | None = documented("execution accuracy unsteered", None)
    steered_accuracy: float | None = documented("execution accuracy steered at the chosen point", None)
    delta: float = documented("steered minus unsteered")
    ci_low: float = documented("the paired bootstrap 95% interval of delta, lower end")
    ci_high: float = documented("the interval's upper end")
    n: int | None = documented("prompts", None)
    fixed: int | None = documented("prompts wrong unsteered and right steered", None)
    broken: int | None = documented("prompts right unsteered and wrong steered", None)
    fix_rate: float | None = documented("P(right steered | wrong unsteered)", None)
    break_rate: float | None = documented("P(wrong steered | right unsteered)", None)
    mcnemar_p: float | None = documented("McNemar's exact p-value on the fixed and broken prompts", None)
    per_group: dict[str, dict] = documented("per command set: n, baseline_accuracy, steered_accuracy",
                                            default_factory=dict)
    component_flips: dict[str, dict] = documented("per SQL component: fixed and broken", default_factory=dict)
    changed_share: float | None = documented("the share of outputs steering changed", None)


@dataclass(frozen=True, kw_only=True)
class SplitMethod:
    """One method of split steering (`steer/steering.json` `methods.<name>`): its point chosen on the
    selection half of the split by execution accuracy, reported on the test half."""

    method: str = documented("its registered name (`gated_<name>`: where the misread detector fires)", "")
    feature: int | None = documented("the SAE coordinate the run steers", None)
    latent: int | None = documented("the latent chosen (null: a direction that is no latent's)")
    scale: float = documented("the scale chosen on selection")
    scale_at_grid_edge: str | None = documented(
        "low, high or only where the chosen scale is still its grid's smallest or largest (only: one scale)", None)
    selection_curve: list[dict] = documented(
        "every point tried: latent, scale, accuracy (the unsteered point first; pruned: scored on the first "
        "half of the selection prompts by successive halving; extended: past a grid edge)", default_factory=list)
    unsteered_best_on_selection: bool = documented("no point beat no steering on selection", False)
    test: SteeredSummary = documented("the chosen point on the test half")
    mean_completeness_error: float | None = documented(
        "GrAInS' mean completeness error on test, for the methods that read its attributions", None)
    in_distribution: SteeredSummary | None = documented(
        "off data.eval_split: the same point on data.eval_split's test half", None, omit_none=True)
    described: dict[str, Any] = documented(
        "what the method says of itself beside its point: moved_latents (the SAE latents it acts through), "
        "trained_amounts, trained_on (the prompts a trained method fit)", default_factory=dict, flatten=True)
    twin: SplitMethod | None = documented(
        "the same method on the SAE's random-weight twin (`steering.methods.twins`)", None, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class ConceptScore:
    """A concept target's judges on the test prompts, each a share of outputs."""

    concept: float = documented("the component took the wanted value")
    instruction: float = documented("every other component equals the gold's")
    fluency: float = documented("the SQL executes")
    score: Proportion = documented("the harmonic mean of the three (0 where any is 0), averaged")


@dataclass(frozen=True, kw_only=True)
class Unsteered:
    """A concept target's unsteered model (`methods.none`)."""

    latent: None = documented("null")
    scale: float = documented("0")
    test: ConceptScore = documented("its judges and score on the test prompts")


@dataclass(frozen=True, kw_only=True)
class ConceptMethod:
    """One method of concept steering (`concept_steering.<target>.methods.<name>`; `<name>_at_span`:
    acting at the words that say the value), its point chosen on validation by the score."""

    latent: int | None = documented("the latent chosen (null: a direction or a set of latents)")
    scale: float = documented("the scale chosen on selection")
    scale_at_grid_edge: str | None = documented("low, high or only: as a split method's", None)
    selection_score: float | None = documented("the chosen point's score on the selection prompts", None)
    test: ConceptScore = documented("the chosen point on the test prompts")
    selection_curve: list[dict] = documented("every point tried: latent, scale, score (pruned, extended)",
                                             default_factory=list)
    described: dict[str, Any] = documented(
        "what the method says of itself: moved_latents, trained_amounts, trained_on", default_factory=dict,
        flatten=True)
    twin: ConceptMethod | None = documented(
        "the same method on the SAE's random-weight twin, its latents chosen the same way on the twin "
        "(every method that acts through the SAE, with causal.random_sae)", None, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class ConceptTarget:
    """One target of concept steering (`concept_steering.<component:VALUE>`)."""

    n_select: int | None = documented("validation prompts without the value, that choose", None)
    n_test: int = documented("data.eval_split prompts without the value, that report")
    candidate_latents: list[int] = documented("the latents whose mean code differs most with the value",
                                              default_factory=list)
    methods: dict[str, Unsteered | ConceptMethod] = documented("`none` (unsteered) and each method by name")
    skipped_methods: dict[str, str] | None = documented("methods that could not run, with why", None,
                                                        omit_none=True)


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """What was not measured, with why."""

    skipped: str = documented("why")


@dataclass(frozen=True, kw_only=True)
class SplitSteering:
    """`steer/steering.json`: split steering of one SAE coordinate, beside every registered method,
    and concept steering."""

    feature: int = documented("the SAE coordinate steered")
    feature_source: str | None = documented(
        "where it came from: steering.target.feature or evaluate's choice", None)
    layer: int | None = documented("the site's block", None)
    site: str | None = documented("the site's kind", None)
    sae: str | None = documented("the SAE's path", None)
    sae_verified: bool | None = documented("its weights match the checksums it was saved with", None)
    direction: str | None = documented("raise or lower the feature", None)
    readout: str | None = documented(
        "where GrAInS reads the feature: the positions that write the response, or the last prompt token", None)
    positions: str | None = documented("where the residual methods edit (all, prompt, decision)", None)
    baseline_embedding: str | None = documented("integrated gradients' baseline embedding", None)
    n_steps: int | None = documented("integrated gradients' steps", None)
    ig_method: str | None = documented("integrated gradients' quadrature", None)
    perturbed_tokens: int | None = documented(
        "the prompt tokens GrAInS perturbs (largest |attribution|; null: all)", None)
    grad_steps: int | None = documented("GrAInS' gradient steps (`steering.grains.GRAD_STEPS`)", None)
    mean_active_value: float | None = documented("the feature's mean value where it is active", None)
    n_select: int | None = documented("selection prompts", None)
    n_test: int = documented("test prompts")
    candidate_latents: list[int] = documented(
        "the feature and the latents GrAInS' contrastive ranking puts first", default_factory=list)
    data_split: str = documented("the split steered")
    split_choice: dict[str, Any] = documented(
        "the rule that chose the split and the figures it read (validation_accuracy, "
        "validation_full_residual_cause, min_handle, candidates)", default_factory=dict)
    in_distribution_split: str | None = documented(
        "off data.eval_split: the split measured as the regression check", None)
    detector: dict | None = documented("the misread detector: its kind and where it fires per arm", None)
    methods: dict[str, SplitMethod] = documented("each method by name")
    skipped_methods: dict[str, str] = documented("methods that could not run, with why", default_factory=dict)
    concept_steering: dict[str, ConceptTarget | Skipped] | None = documented(
        "per concept target", None, omit_none=True)
    seconds_by_part: dict[str, float] = documented("wall seconds per part", default_factory=dict)
    seconds: float | None = documented("wall seconds", None, omit_none=True)
    other_splits: dict[str, SplitSteering] | None = documented(
        "with steering.target.split=handles: each further split's whole result", None, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class CauseIsolateCell:
    """One method of cause / isolate on one attribute's test pairs
    (`cause_isolate.<attribute>.methods.<name>`)."""

    cause: Proportion = documented("the share of pairs whose attribute took the source's value")
    isolate: Proportion = documented("the share whose other components stayed")
    twin: CauseIsolateCell | None = documented(
        "the same latents chosen and measured on the SAE's random-weight twin", None, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class CausalChoice:
    """A coordinate evaluate chose, on the test split: the SAE's (causal.json's `chosen`, `chosen_test`
    and `chosen_test_profile`) or its random-weight twin's (`random_sae_chosen`, chosen the same way)."""

    coordinate: int = documented("the SAE coordinate")
    delta: float = documented("execution accuracy intervened minus unintervened")
    ci_low: float = documented("the paired bootstrap 95% interval of delta, lower end")
    ci_high: float = documented("its upper end")
    n: int | None = documented("test prompts", None)
    target_component: str | None = documented("the SQL component it was chosen for (`causal.select_by`)", None)
    precision: float | None = documented("of the prompts it breaks, the share broken at its component", None)
    precision_ci_low: float | None = documented("precision's interval, lower end", None)
    precision_ci_high: float | None = documented("its upper end", None)
    selectivity: float | None = documented("|Δ at its component| over the sum of |Δ| at every component", None)
    profile: dict[str, dict] = documented("per SQL component: its Δ correctness with interval", default_factory=dict)


RESULT_TYPES = (SplitSteering, SplitMethod, SteeredSummary, ConceptTarget, ConceptMethod, Unsteered, ConceptScore,
                Proportion, Skipped, CauseIsolateCell, CausalChoice)


@dataclass(frozen=True, kw_only=True)
class RunResults:
    """A pipeline run's results, as types: `read_run(run_dir)`."""

    run_dir: Path
    steering: SplitSteering | None
    causal: dict | None

    def cause_isolate(self, attribute: str) -> dict[str, CauseIsolateCell]:
        """Each cause / isolate method on `attribute`'s test pairs."""
        methods = (((self.causal or {}).get("cause_isolate") or {}).get(attribute) or {}).get("methods") or {}
        return {name: from_json(CauseIsolateCell, m) for name, m in methods.items()}

    def chosen(self) -> tuple[CausalChoice | None, CausalChoice | None]:
        """(evaluate's choice on the test split, the random-weight twin's)."""
        c = self.causal or {}
        if "chosen" not in c:
            return None, None
        mine = {"coordinate": c["chosen"], **c["chosen_test"], **(c.get("chosen_test_profile") or {})}
        twin = c.get("random_sae_chosen")
        return from_json(CausalChoice, mine), from_json(CausalChoice, twin) if twin else None


def read_run(run_dir: str | Path) -> RunResults:
    """A pipeline run dir's steering and causal results (None where a stage did not run)."""
    from causalgear.io import read_json

    run = Path(run_dir)
    steering = run / "steer" / "steering.json"
    causal = run / "evaluate" / "causal.json"
    return RunResults(run_dir=run,
                      steering=from_json(SplitSteering, read_json(steering, REMEDY)) if steering.is_file() else None,
                      causal=read_json(causal, REMEDY) if causal.is_file() else None)
