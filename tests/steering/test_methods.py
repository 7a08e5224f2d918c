"""Steering methods are types: a new one is one class and one registration, and the run measures,
writes and reports it like every other."""

import torch

from causalgear.preflight import compose, validate
from causalgear.report.page import write_report
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


def test_a_registered_method_is_measured_written_and_reported(smoke_sae, tmp_path, monkeypatch):
    monkeypatch.setitem(methods._METHODS, "nothing", Nothing)
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[4.0]",
                   "steering.html_examples=2", "steering.target.split=null", "steering.methods.candidates=0",
                   "steering.concepts.targets=[]", "steering.methods.conditional=false",
                   "steering.methods.extra=[nothing]"])
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


def test_an_unregistered_method_is_refused_by_the_config_check():
    import pytest

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
    from causalgear.steering.baselines import mean_prompt_activation
    from causalgear.steering.methods.base import MethodSkipped, SteerContext
    from causalgear.steering.methods.directions import DiffMean
    from causalgear.workbench import Workbench

    overrides, _ = smoke_sae
    bench = Workbench.load(compose([*overrides, "steering.target.feature=2"], stage="steer"), "steer")
    examples = load_split(bench.cfg, "test")[:8]
    right = np.array([1, 0, 1, 0, 1, 0, 0, 0], dtype=float)

    def ctx(base):
        arm = ArmMaker(bench, None).make("selection", examples, base=base, preds=[""] * len(examples))
        return SteerContext(bench, 2, [2], "test", {"selection": arm})

    method = DiffMean(ctx(right))
    acts = mean_prompt_activation(bench.tokenizer, [e.prompt for e in examples], bench.site)
    d = diffmean(acts[right == 1], acts[right == 0])
    norm = float(method.ctx.direction.norm())
    assert torch.allclose(method.along, d * norm / d.norm(), atol=1e-6)
    assert [p for p in method.grid()] == [(None, a) for a in method.ctx.alphas]
    import pytest

    with pytest.raises(MethodSkipped, match="no right"):
        DiffMean(ctx(np.zeros(len(examples))))
