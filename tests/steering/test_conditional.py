"""The conditional variant: a detector fitted on selection prompts gates where a method steers."""

import numpy as np
import pytest

from causalgear.data.loading import load_split
from causalgear.preflight import compose
from causalgear.steering.arms import Arm, question_features
from causalgear.steering.conditional import MisreadDetector, fit_detector
from causalgear.steering.methods.base import Gated, MethodSkipped, SteeringMethod
from causalgear.steering.methods.context import SteerContext
from causalgear.steering.run import steer
from causalgear.workbench import Workbench


class Writer:
    """A runner without a model: "writes" each example steered at the intervention's scale, and
    logs every example it writes for."""

    def __init__(self, examples, log):
        self.examples, self.log = list(examples), log

    def predict(self, scale):
        self.log.extend(self.examples)
        return [f"{e} at {scale:g}" for e in self.examples]

    def score(self, preds):
        return np.ones(len(preds))


class Maker:
    """Arms without a model: what `Arm.subset` needs of an ArmMaker."""

    def __init__(self):
        self.written = []

    def runner(self, examples):
        return Writer(examples, self.written)

    def make(self, key, examples, *, base, preds, rows, attributed=None):
        return Arm(key, rows, tuple(examples), self.runner(examples), None, np.asarray(base, dtype=float),
                   tuple(preds), attributed, self)


def _arm(examples, base, preds, key="test") -> Arm:
    return Maker().make(key, list(examples), base=base, preds=preds, rows=np.arange(len(examples)))


class Recorded(SteeringMethod):
    """Steers every prompt it is given right, and remembers which it was given."""

    name = "recorded"

    def __init__(self):
        super().__init__(ctx=None)
        self.seen = []

    def run_many(self, arm, points):
        self.seen.append(list(arm.examples))
        return {point: (np.ones(len(arm.examples)), [f"{p} steered {point[1]:g}" for p in arm.preds])
                for point in points}


def test_a_gated_method_runs_only_where_the_detector_fires_and_keeps_the_rest_unsteered():
    inner = Recorded()
    arm = _arm("abcd", [1, 0, 1, 0], ["A", "B", "C", "D"])
    fires = {"test": np.array([False, True, False, True])}
    correct, preds = Gated(inner, fires).run(arm, (None, 2.0))
    assert inner.seen == [["b", "d"]]
    assert correct.tolist() == [1, 1, 1, 1] and preds == ["A", "B steered 2", "C", "D steered 2"]
    # a subset of an arm reads the detector's verdict of its own prompts, by their rows in the whole arm
    part = arm.subset(np.array([2, 3]))
    assert part.rows.tolist() == [2, 3] and Gated(inner, fires).run(part, (None, 2.0))[1] == ["C", "D steered 2"]
    fires["test"][:] = False
    assert Gated(inner, fires).run(arm, (None, 2.0))[1] == ["A", "B", "C", "D"] and len(inner.seen) == 2


class ByScale(SteeringMethod):
    """The base class's run, with the point's scale as the intervention."""

    name = "by_scale"

    def __init__(self):
        super().__init__(ctx=None)

    def intervention(self, arm, point):
        return point[1]


def test_a_prompt_steered_at_a_point_is_generated_once_whoever_asks_for_it():
    method = ByScale()
    arm = _arm("abcd", [0, 0, 0, 0], ["A", "B", "C", "D"])
    written = arm.maker.written
    first = method.run(arm.subset(np.array([0, 1])), (None, 2.0))  # successive halving's first half
    assert written == ["a", "b"] and first[1] == ["a at 2", "b at 2"]
    correct, preds = method.run(arm, (None, 2.0))  # the whole arm: only the rest is generated
    assert written == ["a", "b", "c", "d"] and preds == ["a at 2", "b at 2", "c at 2", "d at 2"]
    assert correct.tolist() == [1, 1, 1, 1]
    # the gated twin's subset reads its answers; another point or another arm is generated anew
    assert Gated(method, {"test": np.array([False, True, False, True])}).run(arm, (None, 2.0))[1] == \
        ["A", "b at 2", "C", "d at 2"] and len(written) == 4
    method.run(arm.subset(np.array([3])), (None, 4.0))
    other = arm.maker.make("selection", list("abcd"), base=[0] * 4, preds=list("ABCD"), rows=np.arange(4))
    method.run(other.subset(np.array([3])), (None, 2.0))
    assert written[4:] == ["d", "d"]


def test_the_detector_learns_a_separable_misreading():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    wrong = x[:, 0] + 0.1 * rng.normal(size=400) > 0.5
    detector = MisreadDetector(seed=0).fit(x[:300], wrong[:300])
    assert (detector.fires(x[300:]) == wrong[300:]).mean() > 0.9


def test_the_detector_reads_the_prompt_activations_of_the_selection_arms(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    examples = load_split(bench.cfg, "train")
    # a planted misreading: every CS1 prompt (the questions with no ORDER BY, aggregate or WHERE) "answered wrong"
    planted = np.array([e.group != "CS1" for e in examples], dtype=float)
    def ctx(base):
        return SteerContext.of(bench, 0, [0], "train", {"selection": _arm(examples, base, [""] * len(examples),
                                                                        key="selection")})

    detector = fit_detector(ctx(planted))
    test = load_split(bench.cfg, "test")
    fires = detector.fires(question_features(bench, test))
    assert (fires == np.array([e.group == "CS1" for e in test])).mean() >= 0.8
    with pytest.raises(MethodSkipped, match="fewer than 5"):
        fit_detector(ctx(np.ones(len(examples))))


def test_steer_says_why_it_has_no_gated_twins_when_no_detector_can_be_fitted(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[4.0]",
                   "steering.html_examples=2", "steering.target.split=test_shift.verb", "steering.concepts.targets=[]",
                   "steering.methods.candidates=0", "steering.methods.extra=[]"])
    result = steer(cfg, tmp_path)
    # the smoke model answers every selection prompt wrong: there is nothing to tell apart
    assert result["detector"] is None and "fewer than 5" in result["skipped_methods"]["gated"]
    assert not any(name.startswith("gated_") for name in result["methods"])
