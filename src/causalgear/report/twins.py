"""A steering method and its random-SAE twin, as steering.json names them: which methods act
through SAE latents, which method is whose twin, and whether a method's interval clears its twin's."""

from __future__ import annotations


def acts_through_latents(m: dict) -> bool:
    """A steering method that acts through SAE latents names them (`latent`, or a patch's
    `moved_latents`); a residual direction's (DiffMean, a probe's, a trained vector) has none."""
    return m.get("latent") is not None or bool(m.get("moved_latents"))


def twin_of(methods: dict, name: str) -> dict | None:
    """A steering method's random-SAE twin, where it has one (`random_sae_X` for X,
    `gated_random_sae_X` for `gated_X`)."""
    gated = name.startswith("gated_")
    return methods.get(f"gated_random_sae_{name[6:]}" if gated else f"random_sae_{name}")


def clears_twin(methods: dict, name: str) -> bool:
    """Whether a steering method's test interval lies above its random-SAE twin's (no twin: it does)."""
    twin = twin_of(methods, name)
    return twin is None or methods[name]["test"]["ci_low"] > twin["test"]["ci_high"]


def beats_twin(methods: dict) -> tuple[list[str], list[str]]:
    """A concept-steering target's SAE methods that have a random-SAE twin, and those of them whose
    score interval lies above their twin's."""
    score = {n: m["test"]["score"] for n, m in methods.items()}
    paired = [n for n, m in methods.items() if acts_through_latents(m) and f"random_sae_{n}" in score]
    return paired, [n for n in paired if score[n]["ci_low"] > score[f"random_sae_{n}"]["ci_high"]]
