"""Concept steering's judges, deterministic: execution and the component parser.

A target is `component:VALUE`: force the ORDER BY direction (`order_direction:ASC`), or turn every
aggregate into one function (`aggregate:MAX`). Per output, three 0/1 judges: concept (the component
took the wanted value), instruction (every other component equals the gold's) and fluency (the SQL
executes); its score is their harmonic mean, 0 when any judge is 0, averaged over outputs.
"""

from __future__ import annotations

import numpy as np

from causalgear.data.components import COMPONENTS, components, wanted_value
from causalgear.data.sqlexec import execute
from causalgear.interventions.statistics import proportion
from causalgear.results import ConceptScore, Proportion


def parse_target(target: str) -> tuple[str, str]:
    component, value = target.split(":", 1)
    return component, value


def has_value(gold: dict | None, component: str, value: str) -> bool | None:
    """Whether the gold query has the target value (None: it has no such component)."""
    if gold is None or gold[component] is None:
        return None
    if component == "aggregate":
        return any(fn == value.lower() for fn, _ in gold["aggregate"])
    return gold[component] == value


def judges(example, prediction: str, component: str, value: str, budget) -> tuple[int, int, int]:
    """(concept, instruction, fluency) of one output, each 0 or 1."""
    gold, pred = components(example.sql), components(prediction)
    fluency = int(execute(example.db_paths[0], prediction, budget).ok)
    if pred is None:
        return 0, 0, fluency
    concept = int(pred[component] == wanted_value(gold, component, value))
    instruction = int(all(pred[c] == gold[c] for c in COMPONENTS if c != component))
    return concept, instruction, fluency


def harmonic(concept: np.ndarray, instruction: np.ndarray, fluency: np.ndarray) -> np.ndarray:
    """Per output: the harmonic mean of the three judges (0 if any is 0)."""
    j = np.stack([concept, instruction, fluency]).astype(float)
    with np.errstate(divide="ignore"):
        return np.where((j > 0).all(0), 3 / (1 / np.where(j > 0, j, 1)).sum(0), 0.0)


def scored(judged: np.ndarray) -> ConceptScore:
    """[n, 3] judges per output: each judge's mean and the score (the harmonic mean's share, with
    its Wilson interval)."""
    return ConceptScore(concept=float(judged[:, 0].mean()), instruction=float(judged[:, 1].mean()),
                        fluency=float(judged[:, 2].mean()), score=Proportion(**proportion(harmonic(*judged.T))))
