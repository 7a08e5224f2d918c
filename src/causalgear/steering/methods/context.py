"""What a steering method reads of its target: `MethodContext` (the SAE latents worth trying, the
direction a difference of means points along, where to edit, what a trained method fits on, and on
which SAE: the run's or its random-weight twin, `twin()`), and the split target's `SteerContext`.
Concept steering's is `steering.concepts.context.ConceptContext`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from causalgear.estimators import diffmean
from causalgear.interventions.specs import Positions, Spec, at_tokens
from causalgear.interventions.types import Intervention
from causalgear.models.site import Site
from causalgear.steering.arms import (
    IN_DISTRIBUTION,
    IN_SELECTION,
    SELECTION,
    TEST,
    Arm,
    question_features,
)

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


class MethodSkipped(Exception):  # noqa: N818 - a reason, not a failure: the run goes on without the method
    """A method that cannot run on this split; the message says why."""


def mean_prompt_activation(tokenizer, prompts: list[str], site: Site, batch_size: int = 32) -> torch.Tensor:
    """Each prompt's activation at the site, averaged over its tokens: [n, d]."""
    device = next(site.model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True).to(device)
            h = site.run(batch["input_ids"], batch["attention_mask"]).float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(((h * mask).sum(1) / mask.sum(1)).cpu())
    return torch.cat(out)


def diffmean_direction(activations: torch.Tensor, correct: np.ndarray, norm: float) -> torch.Tensor | None:
    """Mean activation of the prompts answered right minus that of those answered wrong, at `norm`
    (AxBench's DiffMean, with correctness as the concept); None when either group is empty."""
    right = torch.as_tensor(np.asarray(correct, dtype=bool))
    if right.all() or not right.any():
        return None
    d = diffmean(activations[right], activations[~right])
    return d * (norm / d.norm().clamp_min(1e-12))


@dataclass
class MethodContext:
    """What a target gives its methods to read. `choose_latents`: the SAE latents worth trying, best
    first, or what chooses them (asked once, when a method first reads `latents`); `sae` / `stats`:
    the SAE whose latents the methods edit, None for the run's (`twin()` sets its random-weight twin's)."""

    bench: Workbench
    choose_latents: list[int] | Callable[[], list[int]]
    seed: int
    sae: object = None
    stats: dict | None = None
    on_twin: bool = False
    _shared: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.sae is None:
            self.sae, self.stats = self.bench.sae, self.bench.stats

    @property
    def latents(self) -> list[int]:
        if callable(self.choose_latents):
            self.choose_latents = self.choose_latents()
        return self.choose_latents

    @property
    def s(self):
        return self.bench.cfg.steering

    @property
    def alphas(self) -> list[float]:
        return list(self.s.methods.alphas)

    @property
    def sign(self) -> float:
        return 1.0

    def make(self, arm, spec: Spec) -> Intervention:
        """The intervention `spec` describes on `arm`, made on this context's SAE."""
        tools = arm.interventions
        if tools.sae is not self.sae:
            tools = replace(tools, sae=self.sae, stats=self.stats, _directions={})
        return tools.make(spec)

    def positions(self, arm) -> Positions:
        raise NotImplementedError

    def diffmean(self) -> torch.Tensor:
        """The target's difference of means at the site (what DiffMean adds); MethodSkipped where none."""
        raise NotImplementedError

    def reference_norm(self) -> float:
        """The norm a residual direction with no scale of its own (the random direction) is drawn at."""
        raise NotImplementedError

    def training(self) -> tuple[list, str]:
        """(the examples a trained method fits on, the positions it adds its vector at while it trains)."""
        raise NotImplementedError

    def moved(self) -> tuple[list[int], torch.Tensor]:
        """(the latents whose mean code differs where the target's value holds, their mean there)."""
        raise MethodSkipped("this target has no value to move the SAE's codes toward")

    def seed_label(self, label: str) -> str:
        """The `seeds.seed_for` label a method draws under in this target."""
        return label

    def twin_latents(self) -> list[int]:
        """The latents the random-weight twin tries, chosen by the target's rule on the twin."""
        raise NotImplementedError

    def twin(self) -> MethodContext:
        """This context on the SAE's random-weight twin: its latents chosen on the twin by the same rule;
        what methods made for the SAE (`shared`) is the twin's too."""
        bench = self.bench
        return replace(self, sae=bench.twin, stats=bench.twin_stats, on_twin=True, choose_latents=self.twin_latents)

    def shared(self, key: str, make):
        """What several methods need alike (the gold SQL loss gradient), made by the first to ask."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]


@dataclass
class SteerContext(MethodContext):
    """The split target: the workbench, the feature and the latents tried beside it, the split and
    its arms by key. Its difference of means contrasts the selection prompts answered right with
    those answered wrong; its reference norm is the feature's additive direction's."""

    feature: int = 0
    split: str = ""
    arms: dict[str, Arm] = field(default_factory=dict)
    _features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, bench, feature: int, latents, split: str, arms: dict[str, Arm]) -> SteerContext:
        return cls(bench, latents, bench.cfg.seed, feature=feature, split=split, arms=arms)

    @property
    def sign(self) -> float:
        return 1.0 if self.s.target.direction == "raise" else -1.0

    @property
    def direction(self) -> torch.Tensor:
        """The feature's additive direction (the decoder's contribution of its mean active value)."""
        return self.arms[SELECTION].interventions.direction(self.feature)

    def reference_norm(self) -> float:
        return float(self.direction.norm())

    def diffmean(self) -> torch.Tensor:
        sel = self.arms[SELECTION]
        acts = mean_prompt_activation(self.bench.tokenizer, [e.prompt for e in sel.examples], self.bench.site)
        along = diffmean_direction(acts, sel.base, self.reference_norm())
        if along is None:
            raise MethodSkipped("the selection split has no right (or no wrong) answer to take a difference of")
        return along.to(self.direction.device)  # towards the right answers

    def training(self) -> tuple[list, str]:
        # "decision" tokens are chosen per prompt by attribution, so training pushes the whole prompt there
        return [e for arm in self.fitting_arms() for e in arm.examples], \
            "all" if self.s.methods.positions == "all" else "prompt"

    def twin_latents(self) -> list[int]:
        from causalgear.steering.candidates import contrastive_latents

        sel = self.arms[SELECTION]
        return contrastive_latents(self.bench, list(sel.examples), list(sel.preds), sel.base, len(self.latents),
                                   self.sign, sae=self.bench.twin, stats=self.bench.twin_stats)

    def fitting_arms(self) -> list[Arm]:
        """The arms a method may fit on: the selection halves."""
        return [self.arms[k] for k in (SELECTION, IN_SELECTION) if k in self.arms]

    def measured_arms(self) -> list[Arm]:
        """The arms a method is run on: selection, test and the in-distribution test half."""
        return [self.arms[k] for k in (SELECTION, TEST, IN_DISTRIBUTION) if k in self.arms]

    def question_features(self, arm: Arm) -> np.ndarray:
        """`arms.question_features` of an arm's prompts, computed once per whole arm."""
        if arm.key not in self._features:
            self._features[arm.key] = question_features(self.bench, list(self.arms[arm.key].examples))
        return self._features[arm.key][arm.rows]

    def positions(self, arm: Arm) -> Positions:
        """Where a residual method edits, as `steering.methods.positions` says: all, the prompt's, or each
        prompt's attributed tokens."""
        if self.s.methods.positions == "decision":
            return at_tokens([a.tokens for a in arm.attributed])
        return self.s.methods.positions
