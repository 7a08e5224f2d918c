"""The verdict: an effect counts only when it beats both controls."""

from causalgear.interventions.controls import judge
from causalgear.interventions.statistics import Interval


def test_the_verdict_names_each_failed_check():
    strong, weak, zero = Interval(-0.5, -0.6, -0.4, 100), Interval(-0.1, -0.2, 0.0, 100), Interval(0.0, 0.0, 0.0, 100)
    checks, beats, verdict = judge(3, strong, weak, zero)
    assert beats and verdict == "coordinate 3 beats both controls on the test split"
    checks, beats, verdict = judge(3, weak, zero, strong)
    assert not beats and "includes zero" in verdict and "random direction" in verdict
    assert checks == {"excludes_zero": False, "beats_random_coordinate": False, "beats_random_direction": False}
