"""`steering`: one sub-group per concern. `target` (what to steer and where: the latent, the
split, the direction), `grains` (GrAInS' attribution and its step), `methods` (the methods run
beside GrAInS and their grids) and `concepts` (concept steering, AxBench's score). Every grid is
a list; a single value is a one-element list. A key none of them declares is refused in one line
naming the keys the group has (`preflight`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from causalgear.config.checks import ConfigError, _at_least, _positive

# what concept steering can force (steering.concepts.targets)
CONCEPT_VALUES = {"order_direction": ("ASC", "DESC"), "aggregate": ("COUNT", "SUM", "AVG", "MIN", "MAX")}
Direction = StrEnum("Direction", [(v, v) for v in ("raise", "lower")])
ReadoutPosition = StrEnum("ReadoutPosition", [(v, v) for v in ("response", "last_prompt")])
IGBaseline = StrEnum("IGBaseline", [(v, v) for v in ("pad", "zero", "mean")])
# where residual steering edits: every position (generation included), the prompt's, or the
# prompt tokens GrAInS' attribution picks (`decision`)
SteeringPositions = StrEnum("SteeringPositions", [(v, v) for v in ("all", "prompt", "decision")])
IGMethod = StrEnum("IGMethod", [(v, v) for v in ("gausslegendre", "riemann_trapezoid")])


def _grid(key: str, values: list[float]) -> None:
    if not values or any(v <= 0 for v in values):
        raise ConfigError(key, list(values), "a non-empty list of numbers > 0 (0 is the unsteered baseline)")


@dataclass
class TargetConfig:
    # the SAE coordinate to steer; None: the one `causalgear evaluate` chose (causal.json in `causal_path`)
    feature: int | None = None
    causal_path: str | None = None  # an evaluate run dir (or its causal.json)
    # the split steering is chosen and reported on: `auto` (the shift split with the most room,
    # judged on its validation twin, among those with a handle), `handles` (every shift split with
    # room and a measured handle, each reported), a split (e.g. `test_shift.order`), or null
    # (data.eval_split);
    # off data.eval_split, data.eval_split's test half is measured too (the regression check)
    split: str | None = "auto"
    direction: Direction = Direction["raise"]
    # auto: a shift split counts as having a handle where evaluate's full-residual interchange moves
    # its attribute on at least this share of validation pairs
    min_handle: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_handle <= 1.0:
            raise ConfigError("steering.target.min_handle", self.min_handle, "a share from 0 to 1")
        if self.feature is not None:
            _at_least("steering.target.feature", self.feature, 0,
                      "a coordinate index >= 0, or null (evaluate's choice)")


@dataclass
class GrainsConfig:
    # F = the coordinate's pre-activation summed over the positions that write the response
    # (`response`), or at the last prompt token (`last_prompt`)
    readout: ReadoutPosition = ReadoutPosition.response
    # integrated-gradients baseline embedding; not zero: the first RMSNorm maps any alpha * x to
    # one direction, so F jumps at alpha = 0 and a quadrature misses the jump (docs/findings/steering.md)
    baseline: IGBaseline = IGBaseline.pad
    # Gauss-Legendre points: with the pad baseline 32 keep the completeness error (reported per
    # prompt) small at half the time of 64 (bench/ig_baselines.py measures both)
    n_steps: int = 32
    # rows a forward-backward pass: each prompt's n_steps points, itself and the baseline, several
    # prompts sharing a pass; more rows a pass is no faster on CPU (bench/attribution.py)
    internal_batch_size: int = 64
    ig_method: IGMethod = IGMethod.gausslegendre
    perturbed_tokens: int | None = 8  # prompt tokens perturbed (largest |attribution|); None: all
    # the step, as a share of each token embedding's norm: the grid searched on the selection split
    scales: list[float] = field(default_factory=lambda: [0.02, 0.05, 0.1, 0.2, 0.5])

    def __post_init__(self) -> None:
        _positive("steering.grains", self, "n_steps", "internal_batch_size")
        if self.perturbed_tokens is not None:
            _positive("steering.grains", self, "perturbed_tokens")
        if self.ig_method == IGMethod.riemann_trapezoid and self.n_steps < 2:
            raise ConfigError("steering.grains.n_steps", self.n_steps, "an integer >= 2 for riemann_trapezoid")
        _grid("steering.grains.scales", self.scales)


@dataclass
class TrainedConfig:
    # the trained methods (trained_vector, trained_latents): Adam steps on the selection prompts' gold SQL
    steps: int = 100
    # trained_latents: the SAE latents (by their output effect on selection) whose amounts it trains
    latents: int = 8

    def __post_init__(self) -> None:
        _positive("steering.methods.trained", self, "steps", "latents")


@dataclass
class MethodsConfig:
    # methods beside grains and additive, each with its scale chosen on selection, by their names in
    # causalgear.steering.methods: `clamp` (z_j = `clamps` x its mean active value), and at the
    # additive direction's norm and alphas, `diffmean` (selection prompts answered right minus wrong)
    # and `random_direction` (seeded); at alphas times its own DiffMean, `concept_probe` (toward the
    # value a probe reads in the question); `trained_vector` (a vector trained on the selection
    # prompts' gold SQL, at multiples of itself); `trained_latents` (the same, as amounts of the SAE
    # latents with the largest output effect)
    extra: list[str] = field(default_factory=lambda: ["clamp", "diffmean", "random_direction", "concept_probe",
                                                      "trained_vector", "trained_latents"])
    # the methods of the split measured beside their twin on the SAE's random-weight twin (each must
    # act through the SAE's latents; concept steering measures every such method's twin)
    twins: list[str] = field(default_factory=lambda: ["trained_latents"])
    # additive steering: x + alpha * (the decoder's contribution of the mean active z_j); the
    # direction methods at alpha times the additive direction's norm
    alphas: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0])
    clamps: list[float] = field(default_factory=lambda: [0.5, 2.0, 5.0, 10.0])
    conditional: bool = True  # also each method gated by a misread detector fitted on selection
    positions: SteeringPositions = SteeringPositions.all  # of the residual methods (grains: its own tokens)
    # latents beside the feature that additive and clamp try: the first of GrAInS' contrastive ranking
    candidates: int = 3
    trained: TrainedConfig = field(default_factory=lambda: TrainedConfig())

    def __post_init__(self) -> None:
        _at_least("steering.methods.candidates", self.candidates, 0, "an integer >= 0 (0: the feature alone)")
        _grid("steering.methods.alphas", self.alphas)
        _grid("steering.methods.clamps", self.clamps)


@dataclass
class ConceptsConfig:
    # concept steering (AxBench's score): targets `component:VALUE`, prompts per side, SAE latents tried
    targets: list[str] = field(default_factory=lambda: ["order_direction:ASC", "order_direction:DESC",
                                                        "aggregate:MAX"])
    prompts: int = 100
    latents: int = 2
    # the registered methods (causalgear.steering.methods) run per place they act: at every position
    # (`all`) and only at the words that say the value, where cause / isolate's interchange acts
    # (`span`, reported as `<name>_at_span`); e.g. add trained_vector and trained_latents to `all`
    # for a vector and the SAE's latents trained on the selection prompts' gold SQL with the value
    # forced in (steering.concepts.forced), left out by default for steer's time
    methods: dict[str, list[str]] = field(default_factory=lambda: {
        "all": ["clamp", "additive", "diffmean", "random_direction"],
        "span": ["diffmean", "clamp", "additive", "patch"]})
    # patch: the SAE's codes at the words moved toward their mean where the value holds, by these
    # shares of the way (1: set to it); the latents moved are those whose mean there differs by at
    # least `patch_share` of the largest difference
    patch: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    patch_share: float = 0.1

    def __post_init__(self) -> None:
        _positive("steering.concepts", self, "prompts", "latents")
        _grid("steering.concepts.patch", self.patch)
        if not 0.0 < self.patch_share <= 1.0:
            raise ConfigError("steering.concepts.patch_share", self.patch_share, "a share above 0, at most 1")
        if not any(self.methods.values()) or any(where not in ("all", "span") for where in self.methods):
            raise ConfigError("steering.concepts.methods", dict(self.methods),
                              "at least one method, by where it acts: all and/or span")
        for target in self.targets:
            component, _, value = target.partition(":")
            if value not in CONCEPT_VALUES.get(component, ()):
                raise ConfigError("steering.concepts.targets", target, "component:VALUE, one of " + ", ".join(
                    f"{c}:{'|'.join(vs)}" for c, vs in CONCEPT_VALUES.items()))


@dataclass
class SteeringConfig:
    target: TargetConfig = field(default_factory=TargetConfig)
    grains: GrainsConfig = field(default_factory=GrainsConfig)
    methods: MethodsConfig = field(default_factory=MethodsConfig)
    concepts: ConceptsConfig = field(default_factory=ConceptsConfig)
    html_examples: int = 24  # examples attributions.html shows

    def __post_init__(self) -> None:
        _positive("steering", self, "html_examples")
