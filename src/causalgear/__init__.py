"""causalgear: find the causal gears inside a language model, prove them, and turn them.

The public API, for notebooks and plug-ins (every name is imported on first use, so `import
causalgear` stays light):

- a run's workbench: `load_workbench(run_dir)` (the model, its card, the SAE, the splits);
- interventions: the specs (`ZeroLatent`, `MeanLatent`, `Clamp`, `Interchange`, `AddLatent`,
  `AddVector`, `PerExample`, `MoveCodes`, `Grains`) and `Interventions`, which makes them;
- steering methods: `SteeringMethod`, `MethodContext`, `MethodSkipped`, `register`, `twin`, and the
  two targets that run them: `steer_on` (a split's execution accuracy) and `concept_steering`;
- a run's results as types: `read_run` (`results.RunResults`), and its features: `load_features`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "load_workbench": "causalgear.preflight", "Workbench": "causalgear.workbench",
    **dict.fromkeys(("ZeroLatent", "MeanLatent", "Clamp", "Interchange", "AddLatent", "AddVector", "PerExample",
                     "MoveCodes", "Grains"), "causalgear.interventions.specs"),
    "Interventions": "causalgear.interventions.factory",
    **dict.fromkeys(("SteeringMethod", "MethodSkipped", "twin"), "causalgear.steering.methods.base"),
    "MethodContext": "causalgear.steering.methods.context",
    "register": "causalgear.steering.methods",
    "steer_on": "causalgear.steering.run",
    "concept_steering": "causalgear.steering.concepts.steer",
    "read_run": "causalgear.results", "RunResults": "causalgear.results",
    "load_features": "causalgear.features",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'causalgear' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
