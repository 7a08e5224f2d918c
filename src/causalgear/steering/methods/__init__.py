"""Steering methods by name: the one table `steer` runs from and the config check reads.

A new method is one file with a `SteeringMethod` subclass plus one `register` call (here for the
built-in ones, anywhere for a plug-in); `steering.methods.extra` then names it. Entries may be
"module:Class" strings, imported on first use, so the config preflight reads the names without
loading torch. `grains` and `additive` always run (the feature's own methods); the rest are
extras, run in the order `steering.methods.extra` gives.
"""

from __future__ import annotations

import importlib

_METHODS: dict[str, object] = {
    "grains": "causalgear.steering.methods.grains:Grains",
    "additive": "causalgear.steering.methods.additive:Additive",
    "clamp": "causalgear.steering.methods.clamp:Clamp",
    "diffmean": "causalgear.steering.methods.directions:DiffMean",
    "random_direction": "causalgear.steering.methods.directions:RandomDirection",
    "concept_probe": "causalgear.steering.methods.concept_probe:ConceptProbeSteering",
    "trained_vector": "causalgear.steering.methods.trained_vector:TrainedVector",
    "trained_latents": "causalgear.steering.methods.trained_latents:TrainedLatents",
    "random_sae_trained_latents": "causalgear.steering.methods.trained_latents:RandomSaeTrainedLatents",
}
ALWAYS = ("grains", "additive")


def register(name: str, cls: object) -> None:
    """Make `steering.methods.extra=[..., name]` run `cls` (a SteeringMethod subclass, or "module:Class")."""
    _METHODS[name] = cls


def extras() -> tuple[str, ...]:
    """The names `steering.methods.extra` may hold."""
    return tuple(n for n in _METHODS if n not in ALWAYS)


def method(name: str) -> type:
    """The class registered as `name`."""
    entry = _METHODS[name]
    if isinstance(entry, str):
        module, attr = entry.split(":")
        entry = _METHODS[name] = getattr(importlib.import_module(module), attr)
    return entry
