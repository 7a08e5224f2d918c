"""Steering methods are types: a new one is one class and one registration, and the run measures,
writes and reports it like every other."""

import json

import pytest
import torch

from causalgear import AddLatent, SteeringMethod, register
from causalgear.preflight import compose, validate
from causalgear.report.page import write_report
from causalgear.report.summarize import main as summarize
from causalgear.steering import methods
from causalgear.steering.methods.directions import Direction
from causalgear.steering.run import steer


class Nothing(Direction):
    """A toy method: adds a zero direction, at two scales."""

    name = "nothing"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.along = torch.zeros_like(ctx.direction)

    def grid(self):
        return [(None, 1.0), (None, 2.0)]


class Unlatched(SteeringMethod):
    """A toy method that acts through the SAE: its first latent's additive direction at no strength,
    so its outputs (and its twin's) are the unsteered ones."""

    name = "unlatched"
    acts_through_sae = True

    def grid(self):
        return [(j, s) for j in self.ctx.latents[:1] for s in (1.0, 2.0)]

    def intervention(self, arm, point):
        return self.ctx.make(arm, AddLatent(point[0], 0.0, self.ctx.positions(arm)))


@pytest.fixture
def toys():
    """The toy methods registered through the public API, unregistered after the test."""
    saved = dict(methods._METHODS)
    register("nothing", Nothing)
    register("unlatched", Unlatched)
    yield
    methods._METHODS.clear()
    methods._METHODS.update(saved)


def test_a_registered_method_is_measured_written_and_reported(smoke_sae, tmp_path, toys):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[4.0]",
                   "steering.html_examples=2", "steering.target.split=null", "steering.methods.candidates=0",
                   "steering.concepts.targets=[]", "steering.methods.conditional=false",
                   "steering.methods.extra=[nothing]", "steering.methods.twins=[]"])
    validate(cfg)  # the config check knows it by its registration
    result = steer(cfg, tmp_path / "steer")
    toy = result["methods"]["nothing"]
    # chosen on selection like every method: the unsteered point first, then its grid; ties go to the smaller scale
    assert [(p["latent"], p["scale"]) for p in toy["selection_curve"]] == [(None, 0.0), (None, 1.0), (None, 2.0)]
    assert toy["scale"] == 1.0 and toy["latent"] is None
    t = toy["test"]  # a zero direction changes no output: its accounting says so
    assert t["changed_share"] == 0.0 and t["fixed"] == t["broken"] == 0 and t["delta"] == 0.0
    assert list(result["methods"]) == ["grains", "additive", "nothing"]
    page = write_report(tmp_path, cfg).read_text()
    assert "<td>nothing</td>" in page


def test_a_registered_method_runs_on_the_split_and_in_concept_steering_beside_its_random_sae_twin(
        smoke_sae, tmp_path, toys, capsys):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[4.0]", "steering.html_examples=2", "steering.target.split=null",
                   "steering.methods.candidates=1", "steering.methods.conditional=false",
                   "steering.methods.extra=[unlatched]", "steering.methods.twins=[unlatched]",
                   "data.n_validation_per_set=8", "steering.concepts.targets=[order_direction:DESC]",
                   "steering.concepts.prompts=3", "steering.concepts.methods={all:[unlatched],span:[]}"],
                  stage="steer")
    validate(cfg)
    steer(cfg, tmp_path / "steer")
    written = json.loads((tmp_path / "steer" / "steering.json").read_text())
    on_split = written["methods"]["unlatched"]
    on_concept = written["concept_steering"]["order_direction:DESC"]["methods"]["unlatched"]
    for entry in (on_split, on_concept):
        assert entry["latent"] is not None
        twin_entry = entry["twin"]  # measured the same way on the random-weight SAE's latents
        assert twin_entry["latent"] is not None and "twin" not in twin_entry
        assert [p["scale"] for p in twin_entry["selection_curve"] if p["latent"] is not None] == [1.0, 2.0]
    # no strength: the SAE's outputs and its twin's are the unsteered ones
    assert on_split["test"]["changed_share"] == on_split["twin"]["test"]["changed_share"] == 0.0
    unsteered = written["concept_steering"]["order_direction:DESC"]["methods"]["none"]["test"]["score"]
    assert on_concept["test"]["score"] == on_concept["twin"]["test"]["score"] == unsteered
    page = write_report(tmp_path, cfg).read_text()
    assert page.count("<td>unlatched</td>") >= 2 and page.count("<td>unlatched (random SAE)</td>") >= 2
    assert summarize([str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert said.count("unlatched (random SAE)") >= 2


def test_an_unregistered_method_is_refused_by_the_config_check():
    from causalgear.config import ConfigError

    with pytest.raises(ConfigError, match="steering.methods.extra\\[0\\]='nothing'"):
        validate(compose(["steering.methods.extra=[nothing]"]))


def test_diffmean_steers_from_the_selection_prompts_answered_wrong_toward_those_answered_right(smoke_sae):
    """The smoke model answers every prompt wrong, so a steering run skips DiffMean: here the
    selection arm's answers are planted, and the method's direction is the difference of means of
    its prompts' activations, at the feature's additive norm."""
    import numpy as np

    from causalgear.data.loading import load_split
    from causalgear.estimators import diffmean
    from causalgear.steering.arms import ArmMaker
    from causalgear.steering.methods.base import MethodSkipped
    from causalgear.steering.methods.context import SteerContext, mean_prompt_activation
    from causalgear.steering.methods.directions import DiffMean
    from causalgear.workbench import Workbench

    overrides, _ = smoke_sae
    bench = Workbench.load(compose([*overrides, "steering.target.feature=2"], stage="steer"), "steer")
    examples = load_split(bench.cfg, "test")[:8]
    right = np.array([1, 0, 1, 0, 1, 0, 0, 0], dtype=float)

    def ctx(base):
        arm = ArmMaker(bench, None).make("selection", examples, base=base, preds=[""] * len(examples))
        return SteerContext.of(bench, 2, [2], "test", {"selection": arm})

    method = DiffMean(ctx(right))
    acts = mean_prompt_activation(bench.tokenizer, [e.prompt for e in examples], bench.site)
    d = diffmean(acts[right == 1], acts[right == 0])
    norm = float(method.ctx.direction.norm())
    assert torch.allclose(method.along, d * norm / d.norm(), atol=1e-6)
    assert [p for p in method.grid()] == [(None, a) for a in method.ctx.alphas]

    with pytest.raises(MethodSkipped, match="no right"):
        DiffMean(ctx(np.zeros(len(examples))))


def test_a_twin_that_cannot_run_is_said_and_its_method_kept(smoke_sae):
    from causalgear.steering.methods.base import MethodSkipped, twin_or_why
    from causalgear.steering.methods.context import SteerContext
    from causalgear.workbench import Workbench

    class OnlyOnTheSae(SteeringMethod):
        name = "only_on_the_sae"
        acts_through_sae = True

        def __init__(self, ctx):
            super().__init__(ctx)
            if ctx.on_twin:
                raise MethodSkipped("the twin has no such latent")

    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    made, skipped = OnlyOnTheSae(SteerContext.of(bench, 2, [2], "test", {})), {}
    assert twin_or_why(made, skipped, "only") is None
    assert skipped == {"only (random SAE)": "the twin has no such latent"}
