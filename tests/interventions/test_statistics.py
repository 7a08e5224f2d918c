"""Paired accounting of an intervention: fixes, breaks, and McNemar's exact test."""

import pytest

from causalgear.interventions.statistics import flips, paired_bootstrap


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


def test_the_paired_bootstrap_matches_hand_computed_cases():
    # every prompt flips from wrong to right: the difference is 1 in every resample
    iv = paired_bootstrap([0, 0, 0, 0], [1, 1, 1, 1])
    assert (iv.delta, iv.low, iv.high, iv.n) == (1.0, 1.0, 1.0, 4)
    # two prompts, one flips: resample means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 95% percentile interval is [0, 1] around the observed 0.5
    iv = paired_bootstrap([0, 0], [1, 0], n_boot=20000, seed=1)
    assert iv.delta == 0.5 and iv.low == 0.0 and iv.high == 1.0
    assert not iv.excludes_zero()
    # seeded: the same interval twice
    a, b = [0, 1, 1, 0, 1] * 8, [1, 1, 1, 0, 1] * 8
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap([0, 1], [1])
