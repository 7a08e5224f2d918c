"""The seeds of a run's purposes, by name: one run seed, one stream per purpose."""

from __future__ import annotations

import hashlib


def seed_for(seed: int, purpose: str) -> int:
    """The seed of one purpose of a run seeded `seed`. Each purpose has its own stream, so that
    adding a draw for one purpose never moves another's: a purpose named in SEED_OFFSETS keeps the
    offset every earlier figure was drawn with; any other is offset by a hash of its name."""
    if purpose in SEED_OFFSETS:
        return seed + SEED_OFFSETS[purpose]
    return seed + int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "big")


SEED_OFFSETS = {"random control coordinate": 1, "counterfactual prompts": 2, "random-weight model": 7}


def sae_seed(cfg) -> int:
    """The seed of a run's SAE (its initial weights and batch order): `sae.seed`, or the run's `seed`."""
    seed = cfg.sae.get("seed")
    return cfg.seed if seed is None else int(seed)


def sae_seeds(cfg) -> list[int]:
    """The SAE seeds `causalgear pipeline` trains (`sae.seeds` of them), the run's own SAE first."""
    first = sae_seed(cfg)
    return [first + i for i in range(int(cfg.sae.get("seeds", 1)))]
