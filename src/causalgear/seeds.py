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
