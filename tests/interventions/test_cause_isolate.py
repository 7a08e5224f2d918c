"""Cause and isolate are judged by execution and by components, on real TinySQL databases."""

import numpy as np
from omegaconf import OmegaConf

from causalgear.config import TinySQLDataConfig
from causalgear.data import tinysql
from causalgear.data.components import components
from causalgear.data.pairs import make_pairs
from causalgear.data.scoring import score_sql
from causalgear.interventions.cause_isolate import judge, swap_of, value_of
from causalgear.interventions.statistics import proportion


def distinguishable_pairs(smoke_model, tmp_path, attribute):
    """Pairs of a small generated TinySQL test split whose two golds its databases tell apart."""
    _, _, tokenizer = smoke_model
    cfg = OmegaConf.structured(TinySQLDataConfig(n_train_per_set=40, n_validation_per_set=5, n_test_per_set=40,
                                                 n_test_ood_per_set=5, n_schemas=20))
    examples = tinysql.load_split(cfg, tmp_path, "test")
    pairs = make_pairs(tokenizer, examples, attribute, None, seed=0)
    return [p for p in pairs if not score_sql(p.base.sql, p.counterfactual.sql, p.base.db_paths).correct]


def test_the_counterfactual_gold_is_caused_and_the_base_gold_is_not(smoke_model, tmp_path):
    pairs = distinguishable_pairs(smoke_model, tmp_path, "order_direction")[:5]
    assert pairs
    unedited = [components(p.base.sql) for p in pairs]
    cause, isolate = judge(pairs, [p.counterfactual.sql for p in pairs], unedited)
    assert cause.tolist() == [1.0] * len(pairs) and isolate.tolist() == [1.0] * len(pairs)
    cause, isolate = judge(pairs, [p.base.sql for p in pairs], unedited)
    assert cause.tolist() == [0.0] * len(pairs) and isolate.tolist() == [1.0] * len(pairs)


def test_isolate_fails_when_another_component_moves_or_nothing_parses(smoke_model, tmp_path):
    [p] = distinguishable_pairs(smoke_model, tmp_path, "aggregate")[:1]
    unedited = [components(p.base.sql)]
    other_table = p.counterfactual.sql.replace(" FROM ", " FROM other_")
    cause, isolate = judge([p, p], [other_table, "SELECT FROM"], unedited * 2)
    assert cause.tolist() == [0.0, 0.0] and isolate.tolist() == [0.0, 0.0]


def test_values_and_swaps_are_read_from_the_sql(smoke_model, tmp_path):
    assert value_of("aggregate", "SELECT AVG(x) AS avg_x FROM t") == "AVG"
    assert value_of("order_direction", "SELECT x FROM t ORDER BY x") == "ASC"
    assert value_of("where_operator", "SELECT x FROM t WHERE y >= 3") == ">="
    assert value_of("where_operator", "SELECT x FROM t") is None
    for p in distinguishable_pairs(smoke_model, tmp_path, "where_operator"):
        a, b = swap_of(p)
        assert a != b and a in (">", "<", ">=", "<=") and b in (">", "<", ">=", "<=")


def test_a_proportion_has_its_wilson_interval():
    r = proportion(np.array([1, 1, 1, 0]))
    assert r["rate"] == 0.75 and r["ci_low"] < 0.75 < r["ci_high"] and r["n"] == 4
    assert proportion(np.array([]))["rate"] is None
    all_right = proportion(np.ones(90))
    assert all_right["rate"] == 1.0 and 0.95 < all_right["ci_low"] < 1.0 and all_right["ci_high"] == 1.0
