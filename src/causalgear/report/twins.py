"""A method and its random-SAE twin, read as types (`causalgear.results`): a method's twin is its
`twin` field. Which methods act through SAE latents, and whether a method's interval clears its twin's."""

from __future__ import annotations

from causalgear.results import (
    CauseIsolateCell,
    ConceptMethod,
    ConceptTarget,
    Skipped,
    SplitMethod,
    Unsteered,
    from_json,
    twin_label,
)


def split_methods(steering: dict) -> dict[str, SplitMethod]:
    """A steering.json's methods, by name."""
    return {name: from_json(SplitMethod, m) for name, m in steering["methods"].items()}


def concept_target(r: dict) -> ConceptTarget | Skipped:
    """One concept-steering target's entry."""
    return from_json(Skipped, r) if "skipped" in r else from_json(ConceptTarget, r)


def cause_isolate_methods(r: dict) -> dict[str, CauseIsolateCell | None]:
    """One attribute's cause / isolate methods, by name (`no_interchange` and all)."""
    return {name: from_json(CauseIsolateCell, m) for name, m in r["methods"].items()}


def acts_through_latents(m: SplitMethod | ConceptMethod) -> bool:
    """A steering method that acts through SAE latents names them (`latent`, or the `moved_latents`
    of a patch or trained latents); a residual direction's (DiffMean, a probe's, a trained vector) has none."""
    return m.latent is not None or bool(m.described.get("moved_latents"))


def clears_twin(m: SplitMethod) -> bool:
    """Whether a steering method's test interval lies above its random-SAE twin's (no twin: it does)."""
    return m.twin is None or m.test.ci_low > m.twin.test.ci_high


def beats_twin(methods: dict[str, ConceptMethod | Unsteered]) -> tuple[list[str], list[str]]:
    """A concept-steering target's methods that have a random-SAE twin, and those of them whose score
    interval lies above their twin's."""
    paired = [n for n, m in methods.items() if getattr(m, "twin", None) is not None]
    return paired, [n for n in paired if methods[n].test.score.ci_low > methods[n].twin.test.score.ci_high]


def with_twins(methods: dict) -> list[tuple[str, object]]:
    """Each method by name, its random-SAE twin right after it as `<name> (random SAE)`."""
    out = []
    for name, m in methods.items():
        out.append((name, m))
        if getattr(m, "twin", None) is not None:
            out.append((twin_label(name), m.twin))
    return out
