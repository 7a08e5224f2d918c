"""The seeds of a run's purposes, by name: one run seed, one stream per purpose."""

from __future__ import annotations


def seed_for(seed: int, purpose: str) -> int:
    """The seed of one purpose of a run seeded `seed`. Each purpose has its own stream, named here,
    so that adding a draw for one purpose never moves another's; the offsets are the ones every
    earlier figure was drawn with."""
    return seed + SEED_OFFSETS[purpose]


SEED_OFFSETS = {"random control coordinate": 1, "counterfactual prompts": 2, "random-weight model": 7}
