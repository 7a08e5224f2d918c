"""Paired accounting of an intervention: fixes, breaks, and McNemar's exact test."""

import pytest

from causalgear.interventions.statistics import flips


def test_fixes_and_breaks_are_counted_prompt_by_prompt():
    f = flips([1, 1, 0, 0, 0, 1], [1, 0, 1, 1, 0, 1])
    assert (f["fixed"], f["broken"]) == (2, 1)
    assert f["fix_rate"] == pytest.approx(2 / 3) and f["break_rate"] == pytest.approx(1 / 3)
    assert f["mcnemar_p"] == pytest.approx(1.0)  # 2 against 1 of 3 discordant pairs: no evidence


def test_mcnemar_is_the_exact_binomial_on_discordant_pairs():
    f = flips([0] * 10 + [1] * 5, [1] * 10 + [1] * 5)
    assert (f["fixed"], f["broken"], f["break_rate"]) == (10, 0, 0.0)
    assert f["mcnemar_p"] == pytest.approx(2 * 0.5 ** 10)


def test_no_change_and_no_room_are_stated_not_divided_by_zero():
    f = flips([1, 1, 1], [1, 1, 1])
    assert f["fix_rate"] is None and f["break_rate"] == 0.0 and f["mcnemar_p"] == 1.0
