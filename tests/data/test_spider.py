"""Spider loading and the `score` command against the real dev split (skipped without it)."""

import json

import pytest
from omegaconf import OmegaConf

from causalgear.cli import main
from causalgear.config import SpiderDataConfig
from causalgear.data import spider


def test_loads_the_dev_split_and_counts_missing_databases(spider_dir):
    cfg = OmegaConf.structured(SpiderDataConfig(spider_dir=str(spider_dir), max_examples=5000))
    examples, counts = spider.load_examples(cfg)
    assert counts["usable"] == 972 and counts["missing_databases"] == {"wta_1": 62}
    assert len(examples) == 972
    assert examples[0].context.startswith("CREATE TABLE ")
    assert {e.group for e in examples} == {"easy", "medium", "hard", "extra"}


def test_the_default_subset_is_500_and_seeded(spider_dir):
    cfg = OmegaConf.structured(SpiderDataConfig(spider_dir=str(spider_dir)))
    a, _ = spider.load_examples(cfg)
    b, _ = spider.load_examples(cfg)
    assert len(a) == 500 and [e.id for e in a] == [e.id for e in b]


def test_score_gold_against_itself_is_perfect(spider_dir, tmp_path, capsys):
    gold = spider_dir / "dev_gold.sql"
    pred = tmp_path / "pred.sql"
    pred.write_text("\n".join(line.split("\t")[0] for line in gold.read_text().splitlines()) + "\n")
    out = tmp_path / "score.json"
    rc = main(["score", "--gold", str(gold), "--pred", str(pred), "--db", str(spider_dir / "database"),
               "--tables", str(spider_dir / "tables.json"), "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["execution_accuracy"] == 1.0 and report["n_scored"] == 972
    assert report["counts"]["skipped"] == 62
    assert len(report["examples"]) == 1034
    assert {e["db_id"] for e in report["examples"] if e["kind"] == "skipped"} == {"wta_1"}
    assert "execution accuracy: 1.0000 (972/972)" in capsys.readouterr().out


def test_score_deliberate_errors_by_kind(spider_dir, tmp_path):
    lines = (spider_dir / "dev_gold.sql").read_text().splitlines()[:4]
    gold = tmp_path / "gold.sql"
    gold.write_text("\n".join(lines) + "\n")
    pred = tmp_path / "pred.sql"
    pred.write_text("\n".join([
        "SELECT count(*) FROM singer",  # right
        "SELECT count(*) FROM stadium",  # wrong value
        "DROP TABLE singer",  # refused
        "SELECT name ,  country ,  age FROM singer ORDER BY age ASC",  # wrong order
    ]) + "\n")
    out = tmp_path / "s.json"
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--db", str(spider_dir / "database"),
                 "--out", str(out)]) == 0
    kinds = [e["kind"] for e in json.loads(out.read_text())["examples"]]
    assert kinds == ["correct", "wrong", "refused", "wrong"]


def test_gold_with_trailing_text_is_scored_as_its_first_statement_and_changes_no_database(spider_dir, tmp_path):
    """The official evaluator scores `gold ; anything` as gold: so must we, never running the rest."""
    import hashlib

    databases = sorted((spider_dir / "database").rglob("*.sqlite"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in databases}
    gold = spider_dir / "dev_gold.sql"
    tails = ["; LIMIT 1", " ; DROP TABLE {t}", "; VACUUM INTO 'x.sqlite'", "; ATTACH 'evil.sqlite' AS e",
             "; DELETE FROM {t}", ";; SELECT 1"]
    lines = gold.read_text().splitlines()
    preds = []
    for i, line in enumerate(lines):
        query = line.split("\t")[0]
        table = query.split(" FROM ")[1].split()[0] if " FROM " in query else "x"
        preds.append(query + tails[i % len(tails)].format(t=table))
    (tmp_path / "pred.sql").write_text("\n".join(preds) + "\n")
    out = tmp_path / "score.json"
    assert main(["score", "--gold", str(gold), "--pred", str(tmp_path / "pred.sql"), "--db",
                 str(spider_dir / "database"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["execution_accuracy"] == 1.0 and report["n_scored"] == 972
    assert all(e["dropped"] for e in report["examples"] if e["kind"] != "skipped")
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in databases} == before


def test_the_readme_example_scores_its_select(spider_dir, tmp_path):
    (tmp_path / "gold.sql").write_text("SELECT count(*) FROM singer\tconcert_singer\n")
    (tmp_path / "pred.sql").write_text("SELECT count(*) FROM singer; DROP TABLE singer\n")
    out = tmp_path / "s.json"
    assert main(["score", "--gold", str(tmp_path / "gold.sql"), "--pred", str(tmp_path / "pred.sql"), "--db",
                 str(spider_dir / "database"), "--out", str(out)]) == 0
    (example,) = json.loads(out.read_text())["examples"]
    assert example["correct"] and example["dropped"] == "DROP TABLE singer"


@pytest.mark.parametrize(("sql", "group"), [
    ("SELECT count(*) FROM singer", "CS3"),
    ("SELECT name ,  country ,  age FROM singer ORDER BY age DESC", "CS2"),
    ("SELECT DISTINCT country FROM singer", "CS1"),
    ("SELECT avg(age) FROM singer WHERE country = 'France' AND age > 20", "CS4"),
    ("SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id", None),
    ("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)", None),
    ("SELECT name FROM singer UNION SELECT name FROM stadium", None),
    ("SELECT country, count(*) FROM singer GROUP BY country", None),
    ("SELECT name FROM singer ORDER BY age LIMIT 1", None),
    ("SELECT name FROM singer, stadium", None),
])
def test_single_table_queries_get_their_tinysql_command_set(sql, group):
    assert spider.command_set(sql) == group


def test_the_tinysql_subset_is_the_single_table_questions_with_every_table_in_context(spider_dir):
    cfg = OmegaConf.structured(SpiderDataConfig(spider_dir=str(spider_dir), subset="tinysql", max_examples=5000))
    examples, counts = spider.load_examples(cfg)
    assert counts["selected"] == len(examples) == sum(counts["by_database"].values()) == 347
    assert {e.group for e in examples} == {"CS1", "CS2", "CS3", "CS4"}
    tables = {s["db_id"]: len(s["table_names_original"]) for s in json.loads((spider_dir / "tables.json").read_text())}
    assert all(e.context.count("CREATE TABLE ") == tables[e.db_id] for e in examples)  # the model must pick one
    assert all(spider.command_set(e.sql) == e.group for e in examples)
