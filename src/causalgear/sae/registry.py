"""SAE architectures by name: the one table that build, save, load and the 4-bit writer read.

A new architecture is one file with a `SparseAutoencoder` subclass plus one `register` call
(here for the built-in ones, anywhere for a plug-in). Entries may be "module:Class" strings,
imported on first use, so the config preflight reads the names without loading torch.
"""

from __future__ import annotations

import importlib

from causalgear.config import ConfigError

_ARCHITECTURES: dict[str, object] = {
    "relu": "causalgear.sae.relu:ReLUSAE",
    "topk": "causalgear.sae.topk:TopKSAE",
    "deep_relu": "causalgear.sae.deep_relu:DeepReLUSAE",
    "deep_topk": "causalgear.sae.deep_topk:DeepTopKSAE",
    "jumprelu": "causalgear.sae.jumprelu:JumpReLUSAE",
    "batchtopk": "causalgear.sae.batchtopk:BatchTopKSAE",
    "matryoshka": "causalgear.sae.matryoshka:MatryoshkaSAE",
}


def register(name: str, cls: object) -> None:
    """Make `sae.arch=name` build `cls` (a SparseAutoencoder subclass, or "module:Class")."""
    _ARCHITECTURES[name] = cls


def names() -> tuple[str, ...]:
    return tuple(_ARCHITECTURES)


def architecture(name: str) -> type:
    """The class registered as `name`."""
    if name not in _ARCHITECTURES:
        raise KeyError(f"sae.arch={name!r}: one of {', '.join(_ARCHITECTURES)}")
    entry = _ARCHITECTURES[name]
    if isinstance(entry, str):
        module, attr = entry.split(":")
        entry = _ARCHITECTURES[name] = getattr(importlib.import_module(module), attr)
    return entry


def by_saved_name(saved: dict) -> type | None:
    """The class of a saved cfg.json: ours names it; SAELens' files name their `architecture`."""
    ours = saved.get("causalgear", {}).get("arch")
    if ours in _ARCHITECTURES:
        return architecture(ours)
    for name in _ARCHITECTURES:
        cls = architecture(name)
        if ours is None and cls.saelens_architecture == saved.get("architecture") and cls.saelens_compatible:
            return cls
    return None


def build(sae_cfg, d_in: int):
    """A fresh SAE of `sae_cfg.arch` reading d_in-wide activations."""
    return architecture(sae_cfg.arch).from_config(sae_cfg, d_in)


def check(sae_cfg, explicit: frozenset[str] | set[str] = frozenset()) -> None:
    """The preflight of the `sae` group: a registered arch, whose class checks its own fields
    (`SparseAutoencoder.check_config`: `k` exactly where it means something, a deep SAE's widths,
    no key set on the command line (`explicit`) that the architecture does not read)."""
    if sae_cfg.arch not in _ARCHITECTURES:
        raise ConfigError("sae.arch", sae_cfg.arch, f"one of {', '.join(_ARCHITECTURES)} (causalgear.sae.registry)")
    architecture(sae_cfg.arch).check_config(sae_cfg, explicit)
