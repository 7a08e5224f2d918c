"""SQL components by sqlglot, and per-component correctness, on hand-written SQL."""

from causalgear.data.components import component_correct, components


def test_components_of_a_tinysql_query():
    c = components("SELECT name, COUNT(age) AS count_age FROM pets WHERE city != 'rome' ORDER BY name DESC")
    assert c["select"] == frozenset({"name"}) and c["aggregate"] == frozenset({("count", "age")})
    assert c["table"] == frozenset({"pets"})
    assert (c["order_field"], c["order_direction"]) == ("name", "DESC")
    assert (c["where_field"], c["where_operator"], c["where_literal"]) == ("city", "!=", "'rome'")


def test_aliases_quoted_names_and_the_asc_default():
    c = components('SELECT T1."values", count(*) FROM singer AS T1 ORDER BY T1.age')
    assert c["select"] == frozenset({"values"}) and c["aggregate"] == frozenset({("count", "*")})
    assert c["table"] == frozenset({"singer"}) and c["order_direction"] == "ASC"
    assert components("SELECT a FROM t") == {"select": frozenset({"a"}), "aggregate": None, "table": frozenset({"t"}),
                                              "order_field": None, "order_direction": None, "where_field": None,
                                              "where_operator": None, "where_literal": None}
    assert components("SELEC a FROM") is None


def test_a_prediction_is_right_or_wrong_component_by_component():
    gold = "SELECT name FROM pets WHERE age > 3 ORDER BY name DESC"
    right = component_correct(gold, "select name from pets where age > 3 order by name desc")
    assert set(right.values()) == {1.0, None} and right["aggregate"] is None
    flipped = component_correct(gold, "SELECT name FROM pets WHERE age > 3 ORDER BY name ASC")
    assert flipped["order_direction"] == 0.0 and flipped["order_field"] == 1.0 and flipped["where_operator"] == 1.0
    extra = component_correct("SELECT name FROM pets", "SELECT name FROM pets ORDER BY name")
    assert extra["order_field"] == 0.0 and extra["where_field"] is None  # the prediction added an ORDER BY
    broken = component_correct(gold, "SELECT name FROM")
    assert broken["select"] == 0.0 and broken["order_direction"] == 0.0 and broken["aggregate"] is None


def test_sql_nested_past_the_parsers_recursion_limit_does_not_parse():
    # steered generations can be this degenerate; they count as not parsing instead of ending the run
    assert components("SELECT " + "(" * 3000 + "1" + ")" * 3000 + " FROM t") is None
