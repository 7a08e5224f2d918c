"""The conditional variant: a detector fitted on selection prompts gates where a method steers."""

import numpy as np

from causalgear.data.loading import load_split
from causalgear.preflight import compose
from causalgear.steering.conditional import Arm, MisreadDetector, fit_detector, gated
from causalgear.steering.run import steer
from causalgear.workbench import Workbench


def _arm(examples, base, preds, fires=None) -> Arm:
    return Arm(list(examples), None, None, np.asarray(base, dtype=float), list(preds), fires=fires)


def test_a_gated_method_runs_only_where_the_detector_fires_and_keeps_the_rest_unsteered():
    seen = []

    def run(on: Arm, v: float):
        seen.append(on.examples)
        return np.ones(len(on.examples)), [f"{p} steered {v:g}" for p in on.preds]

    def subset(on: Arm, idx):
        return _arm([on.examples[i] for i in idx], on.base[idx], [on.preds[i] for i in idx])

    arm = _arm("abcd", [1, 0, 1, 0], ["A", "B", "C", "D"], fires=np.array([False, True, False, True]))
    correct, preds = gated(run, subset)(arm, 2.0)
    assert seen == [["b", "d"]]
    assert correct.tolist() == [1, 1, 1, 1] and preds == ["A", "B steered 2", "C", "D steered 2"]
    arm.fires[:] = False
    assert gated(run, subset)(arm, 2.0)[1] == ["A", "B", "C", "D"] and len(seen) == 1  # nothing generated


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
    detector = fit_detector(bench, [_arm(examples, planted, [""] * len(examples))], 0)
    test = load_split(bench.cfg, "test")
    fires = detector.fires(_arm(test, np.zeros(len(test)), [""] * len(test)).activations(bench))
    assert (fires == np.array([e.group == "CS1" for e in test])).mean() >= 0.8
    all_right = _arm(examples, np.ones(len(examples)), [""] * len(examples))
    assert "fewer than 5" in fit_detector(bench, [all_right], 0)


def test_steer_says_why_it_has_no_gated_twins_when_no_detector_can_be_fitted(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.feature=2", "steering.scales=[0.5]", "steering.alphas=[4.0]",
                   "steering.html_examples=2", "steering.split=test_shift.verb", "steering.concepts=[]",
                   "steering.candidates=0", "steering.extra_methods=[]"])
    result = steer(cfg, tmp_path)
    # the smoke model answers every selection prompt wrong: there is nothing to tell apart
    assert result["detector"] is None and "fewer than 5" in result["skipped_methods"]["gated"]
    assert not any(name.startswith("gated_") for name in result["methods"])
