"""Every page the project writes is built from escaped values: hostile text in every string a page
takes from a run's JSON (or from a tokenizer, an example, a comparison row) reaches no page as a
tag or an event attribute. The HTML pages are parsed as HTML; the Markdown page is rendered by a
CommonMark renderer first, as GitHub would."""

from pathlib import Path

import torch
from markdown_it import MarkdownIt

from causalgear.cli import main
from causalgear.data.examples import Example
from causalgear.models.tokenizer import train_tokenizer
from causalgear.preflight import compose
from causalgear.report.attributions import attributions_page
from causalgear.report.compare import comparison_html
from causalgear.report.features_page import write_features_page
from causalgear.report.page import write_report
from causalgear.steering.methods.grains import Attributed
from tests.report.test_page import HOSTILE, Tags, hostile_run

# what the project's own pages may contain; anything else came from the data
OWN_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b", "a", "div", "span", "table",
            "thead", "tbody", "tr", "th", "td", "svg", "rect", "ul", "li", "code", "strong", "em", "details",
            "summary", "br", "section", "nav", "figure", "figcaption", "caption", "small", "hr", "pre", "blockquote",
            "ol", "sup", "sub", "label", "input", "button", "abbr"}


def assert_inert(html: str, allowed_tags: set[str] = OWN_TAGS, scripts: int = 0) -> None:
    parser = Tags()
    parser.feed(html)
    foreign = parser.tags - allowed_tags - ({"script"} if scripts else set())
    assert not foreign, foreign
    assert not {a for a in parser.attrs if a.startswith("on")}, parser.attrs
    assert html.count("<script") == scripts  # the page's own sorting script, if it has one
    assert "alert(1)" in html  # the hostile text was written, as text


def hostile_features() -> tuple[dict, dict]:
    h = HOSTILE
    row = {"latent": 0, "firing_rate": 0.2, "best_concept": h, "f1": 0.5, "precision": 0.5, "recall": 0.5,
           "threshold": 0.5, "high_precision_for": [h, h]}
    result = {"latents": [row], "coverage": 0.5, "linear_probe_coverage": 0.7, "diffmean_coverage": 0.4,
              "dead_fraction": 0.1, "dense_fraction": 0.0,
              "random_model_floor": {"coverage": 0.1, "per_concept_f1": {h: 0.1}},
              "per_concept": {h: {"positives": 3, "latent": 0, "f1": 0.5, "auroc": 0.9, "references": {
                  k: {"f1": 0.5} for k in ("linear_probe", "diffmean", "k_sparse_1", "k_sparse_5")}}},
              "sequence_concepts": {"coverage": 0.3, "per_concept": {h: {"f1": 0.3, "latent": 0}}}}
    view = {"histogram": {"counts": [1, 2], "edges": [0.0, 1.0, 2.0], "zero": 3},
            "logit_lens": [{"token": h, "logit": 1.0}],
            "causal": {"mode": h, "delta": -0.1, "ci_low": -0.2, "ci_high": 0.0},
            "contexts": [{"tokens": [h, "x"], "activations": [1.0, 0.5], "at": 0}]}
    return result, {0: view}


def test_features_html_writes_no_tag_from_its_data(tmp_path):
    result, views = hostile_features()
    page = write_features_page(tmp_path / "features.html", result, views).read_text()
    assert_inert(page, scripts=1)
    assert "causal effect: &lt;script&gt;" in page  # the effect line's mode, escaped


def test_attributions_html_writes_no_tag_from_its_data(tmp_path):
    h = HOSTILE
    tokenizer = train_tokenizer([h * 3, "SELECT name FROM items"] * 5, vocab_size=300)
    ids = tokenizer(h).input_ids
    example = Example(id=h, split="test", group=h, db_id=h, question=h, context=h, sql=h, db_dir=str(tmp_path))
    attributed = Attributed(prompt_ids=ids, response_ids=ids[:2], attributions=torch.linspace(-1, 1, len(ids) + 2),
                            f_input=1.0, f_baseline=0.0, completeness_error=0.01, tokens=torch.tensor([0, 1]),
                            unit_delta=None)
    result = {"feature": 3, "layer": 1, "site": h, "readout": h, "baseline_embedding": h, "n_steps": 8,
              "ig_method": h, "methods": {"grains": {"scale": 0.1, "mean_completeness_error": 0.01},
                                          "additive": {"scale": 1.0}}}
    page = attributions_page(tmp_path / "a.html", result, [example], [attributed], tokenizer,
                             {h: ([h], [True])}).read_text()
    assert_inert(page)


def test_comparison_html_writes_no_tag_from_its_rows():
    page = comparison_html([{HOSTILE: HOSTILE, "run": HOSTILE}], [HOSTILE, "run"], b"\x89PNG")
    assert_inert(page, OWN_TAGS | {"img"}, scripts=1)  # its one <img> is the Pareto plot


def test_report_html_writes_no_tag_from_its_data(tmp_path):
    assert_inert(write_report(hostile_run(tmp_path), compose()).read_text())


# maps whose keys are data (an attribute, a concept, a steering target, a stage), not field names
DATA_MAPS = ("cause_isolate", "per_concept", "concept_steering", "seconds", "profile", "component_flips")


def hostile(obj, parent: str = ""):
    """`obj` with HOSTILE before every string and before every key of a map whose keys are data."""
    if isinstance(obj, str):
        return HOSTILE + obj
    if isinstance(obj, list):
        return [hostile(v, parent) for v in obj]
    if isinstance(obj, dict):
        return {(HOSTILE + k if parent in DATA_MAPS else k): hostile(v, k) for k, v in obj.items()}
    return obj


def test_the_markdown_page_renders_no_tag_from_its_data(tmp_path, capsys):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "fixtures" / "run", run)
    for path in run.rglob("*.json"):
        data = hostile(json.loads(path.read_text()))
        if path.name == "steering.json":  # a method named by the data, beside the registered ones
            data["methods"][HOSTILE] = data["methods"]["diffmean"]
        path.write_text(json.dumps(data))
    assert main(["summarize", str(run), "--markdown"]) == 0
    text = capsys.readouterr().out
    assert_inert(MarkdownIt("commonmark").enable("table").render(text))
