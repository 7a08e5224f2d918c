"""Schema decoding: each prediction is a single-table SELECT over its own schema, and nothing else."""

import pytest

from causalgear.config import ConfigError
from causalgear.data import multitable
from causalgear.data.loading import load_split
from causalgear.models.accuracy import score_predictions
from causalgear.models.constrain import constraint_for, schema_decoding, schema_tables
from causalgear.models.generate import generate_sql
from causalgear.preflight import check_values, compose

TWO_TABLES = ('CREATE TABLE singer (Singer_ID NUMBER, Name TEXT, Age NUMBER) '
              'CREATE TABLE "song list" ("Song Title" TEXT, Singer_ID NUMBER)')


@pytest.fixture(scope="module")
def constraint():
    """A constraint over a byte-level tokenizer: the grammar is over bytes, any vocabulary spells it."""
    from causalgear.models.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["SELECT Name FROM singer WHERE Age > 3"] * 4, 300)
    return constraint_for(tokenizer, len(tokenizer))


def test_the_schema_is_read_from_create_table_statements_quoted_names_included(constraint):
    assert schema_tables(TWO_TABLES) == [("singer", ["Singer_ID", "Name", "Age"]),
                                         ("song list", ["Song Title", "Singer_ID"])]
    # names SQLite accepts: a word other SQL dialects reserve, brackets inside quotes
    assert schema_tables('CREATE TABLE Grant (GrantID NUMBER, "Ratings_(millions)" NUMBER, Year TEXT)') == [
        ("Grant", ["GrantID", "Ratings_(millions)", "Year"])]
    with pytest.raises(ValueError, match="no CREATE TABLE"):
        constraint.grammar("no schema here")


@pytest.mark.parametrize("sql, admitted", [
    ("SELECT Name, Age FROM singer", True),
    ("select count(*) from SINGER where age between 20 and 30 and name like 'A%'", True),  # SQLite's case rules
    ('SELECT DISTINCT "Song Title" FROM "song list" ORDER BY Singer_ID DESC', True),
    ("SELECT AVG(Age) AS avg_age, MIN(Age) FROM singer WHERE Name != 'Ann' OR Age IS NOT NULL", True),
    ("SELECT Name FROM \"song list\"", False),  # a column of another table
    ("SELECT Nme FROM singer", False),  # a name the schema does not have
    ("SELECT Name FROM singer JOIN \"song list\"", False),  # outside the single-table grammar
    ("SELECT Name FROM singer; DROP TABLE singer", False),
])
def test_the_grammar_admits_single_table_queries_over_the_schema_only(constraint, sql, admitted):
    assert constraint.admits(TWO_TABLES, sql) is admitted


def test_every_gold_query_of_tinysql_and_multi_table_tinysql_is_in_the_grammar(smoke_model, tmp_path):
    cfg, model, tokenizer = smoke_model
    constraint = constraint_for(tokenizer, model.config.vocab_size)
    examples = load_split(cfg, "test")[::7] + multitable.load_split(0, 4, tmp_path, "test")[::3]
    assert all(constraint.admits(e.context, e.sql) for e in examples)


def test_most_single_table_spider_gold_is_in_the_grammar_in_the_schemas_spelling(smoke_model, spider_dir):
    """Spider's gold spaces commas and spells names in its own case; both are style, not SQL."""
    import re

    from omegaconf import OmegaConf

    from causalgear.config import SpiderDataConfig, SpiderSubset
    from causalgear.data import spider

    _, model, tokenizer = smoke_model
    constraint = constraint_for(tokenizer, model.config.vocab_size)
    data = OmegaConf.structured(SpiderDataConfig(spider_dir=str(spider_dir), subset=SpiderSubset.tinysql))
    examples, _ = spider.load_examples(data)

    def restyled(e):
        names = {n.lower(): n for t, cols in schema_tables(e.context) for n in (t, *cols)}
        sql = " ".join(e.sql.split()).replace(" ,", ",").replace("( ", "(").replace(" )", ")")
        return re.sub(r"'[^']*'|\"[^\"]*\"|\w+", lambda m: names.get(m.group(0).lower(), m.group(0)), sql)

    admitted = sum(constraint.admits(e.context, restyled(e)) for e in examples)
    assert admitted >= 0.8 * len(examples)


def test_schema_decoding_writes_only_the_schemas_names_even_from_an_untrained_model(smoke_model, tmp_path):
    cfg, model, tokenizer = smoke_model
    examples = multitable.load_split(0, 4, tmp_path, "test")[:12]
    prompts, contexts = [e.prompt for e in examples], [e.context for e in examples]
    free = generate_sql(model, tokenizer, prompts, max_new_tokens=48)
    constrained = generate_sql(model, tokenizer, prompts, max_new_tokens=48, contexts=contexts)
    assert constrained != free
    constraint = constraint_for(tokenizer, model.config.vocab_size)
    assert all(constraint.admits(e.context, sql, whole=False) for e, sql in zip(examples, constrained, strict=True))
    whole = [(e, sql) for e, sql in zip(examples, constrained, strict=True) if constraint.admits(e.context, sql)]
    assert len(whole) >= len(examples) // 2  # the rest ran out of tokens
    # SQLite itself says each name is there: a column of another table, or none, fails to run
    verdicts = score_predictions([e for e, _ in whole], [sql for _, sql in whole])
    assert all(v.kind != "error" for v in verdicts)


def test_schema_decoding_in_batches_matches_one_at_a_time(smoke_model, tmp_path):
    cfg, model, tokenizer = smoke_model
    examples = multitable.load_split(0, 4, tmp_path, "test")[::5][:5]
    prompts, contexts = [e.prompt for e in examples], [e.context for e in examples]
    batched = generate_sql(model, tokenizer, prompts, max_new_tokens=32, batch_size=5, contexts=contexts)
    alone = [generate_sql(model, tokenizer, [p], max_new_tokens=32, contexts=[c])[0]
             for p, c in zip(prompts, contexts, strict=True)]
    assert batched == alone


def test_spider_single_table_questions_decode_with_the_schema_by_default_and_everything_else_free(tmp_path):
    assert not schema_decoding(compose(["data=tinysql"]).data)
    assert schema_decoding(compose(["data=spider", "data.subset=tinysql"]).data)
    assert not schema_decoding(compose(["data=spider"]).data)  # joins and nesting: outside the grammar
    assert schema_decoding(compose(["data=tinysql", "data.decoding=schema"]).data)
    assert not schema_decoding(compose(["data=spider", "data.subset=tinysql", "data.decoding=free"]).data)
    with pytest.raises(ConfigError, match="data.decoding='schema'"):
        check_values(compose(["data=spider", "data.decoding=schema"]))
