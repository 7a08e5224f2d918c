"""The README and docs/ as a user meets them: short, every link resolves, every figure the README
quotes comes from docs/results.md (the page `causalgear summarize` writes from one run)."""

import re
import sys
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
    assert len((REPO / "README.md").read_text().splitlines()) <= 150


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
    results = (REPO / "docs" / "results.md").read_text()  # the page `causalgear summarize --markdown` wrote
    text = re.sub(r"`[^`\n]*`|Python \d+\.\d+", "", (REPO / "README.md").read_text())  # code and versions
    figures = re.findall(r"(?<![\w.])[+-]?\d+\.\d{2,}", text)
    figures = [f for f in figures if not re.fullmatch(r"\d{4}\.\d{4,5}", f)]  # arXiv ids are not figures
    missing = [f for f in figures if f not in results]
    assert not missing, f"README figures not in docs/results.md: {missing}"


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


# An issue or pull request by number ("issue 22", "#35's"), and a commit id (7 to 12 hex digits with
# a letter and a digit, or any hex after "commit"). A CSS colour is not one: it sits after ':' or a
# quote and before ';', '}' or a quote.
ISSUE = re.compile(r"\b(?:issues?|PRs?|pull requests?)[\s-]+#?\d+|(?<![\w:#&/\"'])#\d{1,4}(?![\w;}\"])", re.I)
COMMIT = re.compile(r"(?<![\w/.-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,12}(?![\w-])"
                    r"|\bcommits?\s+[0-9a-f]{7,40}\b")
# generated pages keep their provenance stamp: the commit of the run (or sweep) they were written from
STAMPS = {"docs/results.md": "· commit `", "docs/results-before.md": "· commit `",
          "docs/selection.md": "(`causalgear select`, commit "}


def project_texts() -> list[Path]:
    """README, docs/ (CHANGELOG.md keeps the history), conf/ and the package's source."""
    files = [REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "conf").rglob("*.yaml")]
    files += [p for p in (REPO / "src" / "causalgear").rglob("*") if p.suffix in (".py", ".yaml", ".md")]
    return sorted(files)


def history_in(path: Path) -> list[str]:
    stamp = STAMPS.get(str(path.relative_to(REPO)))
    found = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if stamp and stamp in line:
            continue
        found += [f"{path.relative_to(REPO)}:{i}: {m.group(0)!r}" for m in (*ISSUE.finditer(line),
                                                                          *COMMIT.finditer(line))]
    return found


def test_no_issue_number_or_commit_id_outside_the_changelog():
    found = [hit for path in project_texts() for hit in history_in(path)]
    assert not found, "history belongs in CHANGELOG.md: " + "; ".join(found)


def test_the_history_check_sees_an_issue_a_commit_and_not_a_colour(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("as issue #35's goal asks\nfixed in 4d4d99c\nby issue 22\nsee commit 8796079\n"
                    "color:#555; border: solid #999} c = \"#888\"\nsha 85de6c79f57f7423 and arXiv:2503.12730\n")
    assert [h.split(": ", 1)[1] for h in history_in(page)] == ["'issue #35'", "'4d4d99c'", "'issue 22'",
                                                                "'commit 8796079'"]


# a pointer from a comment or config to the README by section ("README, "Section"") or to a page
README_SECTION = re.compile(r"README,?\s+\"([^\"]+)\"")
DOCS_PAGE = re.compile(r"\bdocs/[\w/.-]+\.md(?:#[\w-]+)?")


def test_every_pointer_from_code_or_config_to_the_docs_resolves():
    readme = {slug(h) for h in re.findall(r"^#+\s+(.*)$", (REPO / "README.md").read_text(), flags=re.M)}
    files = [*(REPO / "conf").rglob("*.yaml"), *(p for p in (REPO / "src" / "causalgear").rglob("*.py"))]
    broken = []
    for path in files:
        text = path.read_text()
        broken += [f"{path.relative_to(REPO)}: README section {m.group(1)!r}" for m in README_SECTION.finditer(text)
                   if slug(m.group(1)) not in readme]
        for m in DOCS_PAGE.finditer(text):
            page, _, anchor = m.group(0).rstrip(".").partition("#")
            if not (REPO / page).is_file() or (anchor and anchor not in anchors(REPO / page)):
                broken.append(f"{path.relative_to(REPO)}: {m.group(0)}")
    assert not broken, "; ".join(broken)


def needs_a_gpu(proc) -> bool:
    import torch

    return proc.returncode == 2 and not torch.cuda.is_available() and "no CUDA device is visible here" in proc.stderr


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_your_model_and_your_data_is_short_and_every_command_in_it_composes(tmp_path):
    """Each command of the section, run with `--cfg job`: Hydra composes the job's config and the
    preflight checks it (groups, keys, the model's depth, the data's files) without running it. What
    a user replaces is given here: the hub id is in a Hugging Face cache (its config alone), the
    local model is a folder with a config, Spider a folder in its layout, the JSONL a user's rows. A
    sweep composes as its first job: `--cfg` cannot be given with `-m`."""
    import os
    import shlex
    import subprocess

    from transformers import Qwen2Config

    from tests.conftest import write_user_jsonl

    section = readme_section("Your model and your data")
    assert len(section.rstrip().splitlines()) <= 25
    hub = tmp_path / "hf" / "hub"
    snapshot = hub / "models--Qwen--Qwen2.5-0.5B" / "snapshots" / ("0" * 40)
    Qwen2Config(hidden_size=896, num_hidden_layers=24, vocab_size=151936).save_pretrained(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    Qwen2Config(num_hidden_layers=8).save_pretrained(tmp_path / "mine")
    spider = tmp_path / "spider"
    spider.mkdir()
    for name in ("tables.json", "dev.json"):
        (spider / name).write_text("[]")
    placeholders = {"/data/spider": str(spider), "/models/mine": str(tmp_path / "mine"),
                    "rows.jsonl": str(write_user_jsonl(tmp_path / "rows"))}
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "CAUSALGEAR_CACHE": str(tmp_path / "cache")}
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = 0
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        for placeholder, path in placeholders.items():
            words = [w.replace(placeholder, path) for w in words]
        if words[:1] == ["export"]:
            key, _, value = words[1].partition("=")
            env[key] = value
            continue
        assert words[0] == "causalgear", line
        args = [w.split(",")[0] if "=" in w else w for w in words[1:] if w != "-m"]
        proc = subprocess.run([sys.executable, "-m", "causalgear", *args, "--cfg", "job"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.stdout.startswith(f"stage: {args[0]}"), f"{line}: {proc.stderr[-2000:]}"
        if needs_a_gpu(proc):  # composed, then refused where no GPU is: said in one line
            assert proc.stderr.count("\n") == 1, proc.stderr
        else:
            assert proc.returncode == 0, f"{line}: {proc.stderr[-2000:]}"
        commands += 1
    assert commands >= 4


def scoreboard_answers(text: str) -> list[tuple[str, str]]:
    """(question, answer) of each row of the first Markdown table headed `| question | answer |`."""
    start = text.index("| question | answer |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0], cells[1]))
    return rows


def test_the_readme_s_scoreboard_answers_as_the_generated_results_do():
    readme = scoreboard_answers((REPO / "README.md").read_text())
    results = scoreboard_answers((REPO / "docs" / "results.md").read_text())
    assert readme == results and len(readme) >= 7
