"""The README and docs/ as a user meets them: short, every link resolves, every figure the README
quotes comes from docs/results.md (the page `causalgear summarize` writes from one run)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code is not a link
    return [m.group(1) for m in LINK.finditer(text)]


def test_the_readme_is_a_page_a_user_reads_through():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            assert re.match(r"^https?://[\w.-]+\.[a-z]{2,}(/\S*)?$", target), target  # offline: well formed
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no {file.relative_to(REPO) if file.is_relative_to(REPO) else file})")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading #{anchor} in {file.name})")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_every_figure_in_the_readme_is_in_the_generated_results():
    # the pages a command wrote: the default run's and the previous default's (summarize
    # --markdown), the SAE selection's (compare)
    results = "".join((REPO / "docs" / page).read_text() for page in ("results.md", "results-before.md",
                                                                      "selection.md"))
    text = re.sub(r"`[^`\n]*`|Python \d+\.\d+", "", (REPO / "README.md").read_text())  # code and versions
    figures = re.findall(r"(?<![\w.])[+-]?\d+\.\d{2,}", text)
    figures = [f for f in figures if not re.fullmatch(r"\d{4}\.\d{4,5}", f)]  # arXiv ids are not figures
    missing = [f for f in figures if f not in results]
    assert not missing, f"README figures not in the pages commands wrote: {missing}"


def test_the_results_page_is_stamped_with_its_run_and_processor():
    head = (REPO / "docs" / "results.md").read_text().splitlines()[2]
    assert "`causalgear pipeline`" in head and "commit `" in head and "commit `unknown`" not in head
    assert "It ran on " in head


def test_the_results_page_is_of_the_model_that_ships():
    import json

    from causalgear.models.shipped import shipped_dir
    from causalgear.preflight import compose

    card = json.loads((shipped_dir(compose([]).model) / "model_card.json").read_text())
    model_line = next(line for line in (REPO / "docs" / "results.md").read_text().splitlines()
                      if line.startswith("- Model: "))
    assert (f"executes {card['test_accuracy_mean']:.3f} of its test prompts correctly, "
            f"{card['test_ood_accuracy_mean']:.3f} out of distribution") in model_line
