"""What a run found, one sentence per stage, generated from the JSON its stages wrote.

Each sentence carries its figure, its interval, its control and a verdict; it opens its section of
report.html and follows the scoreboard in `causalgear summarize` and docs/results.md. A
verdict is "a finding" only where an interval clears its control; the sentences never pick a
winner on the test split (where several methods are listed, every one whose interval clears is
named, not the best one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from causalgear.report.health import gate_text, health
from causalgear.report.reading import read
from causalgear.report.twins import (
    acts_through_latents,
    beats_twin,
    cause_isolate_methods,
    clears_twin,
    concept_target,
    split_methods,
)
from causalgear.results import CauseIsolateCell, Skipped


@dataclass(frozen=True)
class Finding:
    stage: str  # model, sae, features, causal, cause_isolate, steering, concept_steering, transfer
    sentence: str
    verdict: str  # "a finding", "not a finding", "healthy", "unhealthy", "measured", "unreadable"
    problem: str = ""  # an unreadable finding's: which file is not the shape its stage writes, and how


def _figures(r, *keys: str) -> list:
    """`keys` of a figure read from JSON (a dict) or as a result type (`causalgear.results`)."""
    return [r[k] if isinstance(r, dict) else getattr(r, k) for k in keys]


def interval(r, digits: int = 3) -> str:
    """A difference with its interval: `+0.012 [-0.004, +0.030]`."""
    delta, low, high = _figures(r, "delta", "ci_low", "ci_high")
    return f"{delta:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def rate(r, digits: int = 2) -> str:
    """A share with its interval: `0.96 [0.92, 0.98]`."""
    share, low, high = _figures(r, "rate", "ci_low", "ci_high")
    return f"{share:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def shift_accuracies(card: dict) -> dict[str, float]:
    """A model card's test accuracy with each phrasing element held out, by element."""
    return {k.removeprefix("test_shift.").removesuffix("_accuracy_mean"): v for k, v in card.items()
            if k.startswith("test_shift.") and k.endswith("_accuracy_mean")}


def model(card: dict) -> Finding:
    shifts = shift_accuracies(card)
    text = f"Model: {card['name']} executes {card['test_accuracy_mean']:.3f} of its test prompts correctly"
    if "test_ood_accuracy_mean" in card:
        text += f", {card['test_ood_accuracy_mean']:.3f} out of distribution"
    if shifts:
        text += "; with one phrasing element held out: " + ", ".join(f"{k} {v:.3f}" for k, v in shifts.items())
    return Finding("model", text + ".", "measured")


def sae(m: dict) -> Finding:
    shape = f"{m['arch']}, {m['d_sae']} latents" + (f" (k {m['k']})" if m.get("k") else "")
    failed = health(m)
    text = (f"SAE: {shape} at layer {m.get('layer')} explains {m['explained_variance']:.3f} of the variance on "
            f"validation rows (L0 {m['l0']:.1f}, density {m['density']:.3f}, dead {m['dead_fraction']:.3f}")
    if m.get("ce_loss_recovered") is not None:
        text += f", CE loss recovered {m['ce_loss_recovered']:.3f}"
    text += f"): {'passes' if not failed else 'fails'} the health gate ({gate_text()})"
    return Finding("sae", text + ("" if not failed else ": " + "; ".join(failed)) + ".",
                   "healthy" if not failed else "unhealthy")


def features(c: dict) -> Finding:
    if c.get("skipped"):
        return Finding("features", f"Features: skipped ({c['skipped']}).", "measured")
    text = (f"Features: the best latent per concept reaches coverage {c['coverage']:.3f} over "
            f"{len(c['per_concept'])} concepts")
    twin = (c.get("random_sae") or {}).get("coverage")
    verdict = "measured"
    if twin:
        verdict = "a finding" if twin["finding"] else "not a finding"
        text += f"; its random-SAE twin {twin['random']:.3f} (trained minus twin {interval(twin)}): {verdict}"
    text += (f"; references: linear probe {c['linear_probe_coverage']:.3f} (the ceiling), DiffMean "
             f"{c['diffmean_coverage']:.3f}, random-weight model {c['random_model_floor']['coverage']:.3f}")
    return Finding("features", text + ".", verdict)


def causal(c: dict) -> Finding:
    verdict = "a finding" if c["beats_controls"] else "not a finding"
    ctrl = c["controls"]
    text = (f"Causal choice: {c['mode']} on coordinate {c['chosen']} changes test accuracy by "
            f"{interval(c['chosen_test'])} on {c['n_test']} prompts (baseline {c['baseline']['test_accuracy']:.3f}); "
            f"random coordinate {interval(ctrl['random_coordinate'])}, random direction "
            f"{interval(ctrl['random_direction'])}: {verdict}")
    p = c.get("chosen_test_profile")
    if p and p.get("target_component"):
        text += (f"; its causal precision on {p['target_component']} is {p['precision']:.3f} "
                 f"[{p['precision_ci_low']:.3f}, {p['precision_ci_high']:.3f}]")
        twin = c.get("random_sae_chosen")
        if twin:  # the random-SAE control, chosen the same way
            clears = "clears" if c["precision_beats_random_sae"] else "does not clear"
            text += (f" against the random SAE's coordinate's {twin['precision']:.3f} [{twin['precision_ci_low']:.3f}, "
                     f"{twin['precision_ci_high']:.3f}] ({clears} it)")
    return Finding("causal", text + ".", verdict)


def _best_sae(methods: dict[str, CauseIsolateCell]) -> tuple[str, CauseIsolateCell] | None:
    """The SAE latents' best figure among the top-1/2/5 (best by cause, reported with its name)."""
    sae = {k: v for k, v in methods.items() if k.startswith("top_")}
    return max(sae.items(), key=lambda kv: kv[1].cause.rate) if sae else None


def cause_isolate(ci: dict) -> Finding:
    """Per attribute, the SAE's best latent set beside its random twin, DiffMean and the full
    residual (the ceiling at the site); every method's figures are the section's table."""
    parts, found = [], []
    for attribute, r in ci.items():
        if not r["methods"]:
            parts.append(f"{attribute}: {r.get('skipped', 'no pairs')}")
            continue
        m = cause_isolate_methods(r)
        best = _best_sae(m)
        text = f"{attribute} ({r['test_pairs']} pairs)"
        if best:
            name, b = best
            text += f" best SAE {name.replace('_', ' ')} {rate(b.cause)}"
            if b.twin:
                text += f" against its random twin's {b.twin.cause.rate:.2f}"
            if any(r.get("beats_random_sae", {}).values()):
                found.append(attribute)
        for ref in ("diffmean", "full_residual"):
            if ref in m:
                text += f", {ref.replace('_', ' ')} {m[ref].cause.rate:.2f}"
        parts.append(text)
    verdict = "a finding" if found else "not a finding"
    tail = f"SAE latents beat their random twin on {', '.join(found)}" if found else \
        "no SAE latent set beats its random-SAE twin"
    return Finding("cause_isolate", "Cause / isolate (cause on test pairs [95% CI]): " + "; ".join(parts)
                   + f": {tail}.", verdict)


def steering(s: dict) -> Finding:
    methods, split = split_methods(s), s.get("data_split")
    choice = s.get("split_choice") or {}
    where = f"Steering on {split}"
    element = split.split(".", 1)[1] if split and "." in split else None
    room = (choice.get("validation_accuracy") or {}).get(element)
    handle = (choice.get("validation_full_residual_cause") or {}).get(element)
    if room is not None:
        where += f" (validation accuracy {room:.3f}" + (f", full-residual cause {handle:.2f}" if handle is not None
                                                        else "") + ")"
    base = next(iter(methods.values())).test.baseline_accuracy
    clears = [n for n, m in methods.items() if m.test.ci_low > 0]

    def said(n: str) -> str:
        m = methods[n]
        ind = f", in distribution {interval(m.in_distribution)}" if m.in_distribution else ""
        return f"{n} {interval(m.test)}{ind}" + (f", random-SAE twin {interval(m.twin.test)}" if m.twin else "")

    sae_methods = [n for n, m in methods.items() if acts_through_latents(m)]
    sae_cleared = [n for n in sae_methods if n in clears]
    found = [n for n in sae_cleared if clears_twin(methods[n])]
    text = f"{where}, unsteered {base:.3f}: "
    text += ("intervals above 0: " + ", ".join(f"{n} {interval(methods[n].test)}" for n in clears)) if clears \
        else "no method's interval clears 0"
    if found:
        text += "; clearing its random-SAE twin: " + "; ".join(said(n) for n in found)
    elif sae_cleared:
        text += ("; no SAE-based method that clears 0 clears its random-SAE twin: "
                 + "; ".join(said(n) for n in sae_cleared))
    elif sae_methods:
        text += f"; no SAE-based method ({', '.join(sae_methods)}) clears 0"
    if "random_direction" in methods:
        text += f"; random direction {interval(methods['random_direction'].test)}"
    return Finding("steering", text + ".", "a finding" if found else "not a finding")


def concept_steering(c: dict) -> Finding | None:
    """Where an SAE method's score interval clears its random-SAE twin's, by target; every method's
    score is the section's table."""
    parts, found, tried = [], [], 0
    targets = {target: concept_target(r) for target, r in c.items()}
    for target, r in targets.items():
        if isinstance(r, Skipped):
            parts.append(f"{target} skipped ({r.skipped})")
            continue
        paired, beat = beats_twin(r.methods)
        tried += len(paired)
        found += [f"{target} ({n})" for n in beat]
        if beat:
            parts.append(f"{target} (" + ", ".join(f"{n} {r.methods[n].test.score.rate:.2f}" for n in beat) + ")")
    if not c:
        return None
    if all(isinstance(r, Skipped) for r in targets.values()):
        return Finding("concept_steering", "Concept steering: " + "; ".join(parts) + ".", "measured")
    if not tried:
        return Finding("concept_steering", f"Concept steering on {', '.join(c)}: no random-SAE twins to hold the "
                       "methods against; the scores are the section's table.", "measured")
    head = f"Concept steering (score on test prompts, 0 to 1, {len(c)} targets): "
    if not found:
        return Finding("concept_steering", head + "no SAE method's interval clears its random-SAE twin's"
                       + (f" ({'; '.join(parts)})" if parts else "") + ".", "not a finding")
    return Finding("concept_steering", head + f"SAE latents beat their random-SAE twin in {len(found)} of {tried} "
                   f"(target, method) pairs: {'; '.join(parts)}.", "a finding")


def transfer(c: dict) -> Finding | None:
    t = {k: v for k, v in (c.get("transfer") or {}).items() if "skipped" not in v}
    if not t:
        return None
    parts = [f"{name} ({r['data']}) {interval(r['chosen'])} against random direction {interval(r['random_direction'])}"
             for name, r in t.items()]
    return Finding("transfer", f"Transfer of coordinate {c['chosen']}: " + "; ".join(parts) + ".", "measured")


def _said(stage: str, fn, data: dict, path: Path) -> Finding:
    """The stage's sentence; where its JSON lacks a field (a run of an older version, a stage run
    alone) the sentence names the file and says so rather than the page failing."""
    try:
        return fn(data)
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        problem = f"{path} is not the shape its stage writes (no {err})"
        return Finding(stage, f"{stage}: not summarised: {problem}.", "unreadable", problem)


def findings(run_dir: Path) -> list[Finding]:
    """Every stage's sentence that this run dir has the JSON for, in pipeline order."""
    run_dir = Path(run_dir)
    out: list[Finding | None] = []
    for stage, fn, path in (("model", model, run_dir / "model" / "model_card.json"),
                            ("sae", sae, run_dir / "train" / "metrics.json"),
                            ("features", features, run_dir / "features" / "concepts.json")):
        if (data := read(path)) is not None:
            out.append(_said(stage, fn, data, path))
    causal_path = run_dir / "evaluate" / "causal.json"
    if (c := read(causal_path)) is not None:
        out.append(_said("causal", causal, c, causal_path))
        if c.get("cause_isolate"):
            out.append(_said("cause_isolate", cause_isolate, c["cause_isolate"], causal_path))
        out.append(_said("transfer", transfer, c, causal_path))
    steering_path = run_dir / "steer" / "steering.json"
    if (s := read(steering_path)) is not None:
        out.append(_said("steering", steering, s, steering_path))
        out += [_said("steering", steering, other, steering_path) for other in (s.get("other_splits") or {}).values()]
        out.append(_said("concept_steering", concept_steering, s.get("concept_steering") or {}, steering_path))
    from causalgear.report.seeds import annotate

    return annotate([f for f in out if f is not None], run_dir)
