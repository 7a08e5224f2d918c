"""Steering methods by name: the one table both targets run from (a split's execution accuracy,
`steering.run`; a concept forced, `steering.concepts`) and the config check reads.

A new method is one file with a `SteeringMethod` subclass plus one `register` call (here for the
built-in ones, anywhere for a plug-in); `steering.methods.extra` then names it for the split and
`steering.concepts.methods` for concept steering. Entries may be "module:Class" strings, imported
on first use, so the config preflight reads the names without loading torch. On a split, `grains`
and `additive` always run (the feature's own methods); the rest are extras, run in the order
`steering.methods.extra` gives. A method that `acts_through_sae` is measured beside its twin on the
random-weight SAE (`methods.base.twin`): in concept steering always, on a split where
`steering.methods.twins` names it.
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
    "patch": "causalgear.steering.methods.patch:Patch",
}
ALWAYS = ("grains", "additive")


def register(name: str, cls: object) -> None:
    """Make `steering.methods.extra=[..., name]` run `cls` (a SteeringMethod subclass, or "module:Class")."""
    _METHODS[name] = cls


def extras() -> tuple[str, ...]:
    """The names `steering.methods.extra` may hold."""
    return tuple(n for n in _METHODS if n not in ALWAYS)


def check(steering) -> None:
    """Every method the `steering` config group names is registered (and a twinned one is run on the
    split and acts through the SAE), said with the key and what it may hold."""
    from causalgear.config.checks import ConfigError

    for i, name in enumerate(steering.methods.extra):
        if name not in extras():
            raise ConfigError(f"steering.methods.extra[{i}]", name,
                              f"one of {', '.join(extras())} (causalgear.steering.methods)")
    for where, names in steering.concepts.methods.items():
        for i, name in enumerate(names):
            if name not in _METHODS:
                raise ConfigError(f"steering.concepts.methods.{where}[{i}]", name,
                                  f"one of {', '.join(_METHODS)} (causalgear.steering.methods)")
    run = (*ALWAYS, *steering.methods.extra)
    for i, name in enumerate(steering.methods.twins):
        if name not in run or not method(name).acts_through_sae:
            twinned = [n for n in run if method(n).acts_through_sae]
            raise ConfigError(f"steering.methods.twins[{i}]", name,
                              f"a method the split runs that acts through the SAE: one of {', '.join(twinned)}")


def method(name: str) -> type:
    """The class registered as `name`."""
    entry = _METHODS[name]
    if isinstance(entry, str):
        module, attr = entry.split(":")
        entry = _METHODS[name] = getattr(importlib.import_module(module), attr)
    return entry
