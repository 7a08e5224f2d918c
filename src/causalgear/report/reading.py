"""Reading a run's JSON: every reader of a run (the findings, the scoreboard, the tables, the
report, compare) reads a stage's file through here, so a damaged one is one error naming it."""

from __future__ import annotations

from pathlib import Path

from causalgear.errors import CausalgearError
from causalgear.io import read_json
from causalgear.results import REMEDY


def read(path: Path) -> dict | None:
    """A run file's JSON object, or None where the stage did not run. A file that is not whole JSON,
    or not the object its stage writes (`[]`, `null`, a string), is one CausalgearError naming it:
    every reader of a run (summarize, the findings, the report, compare) reads through here."""
    if not path.is_file():
        return None
    data = read_json(path, REMEDY)
    if not isinstance(data, dict):
        raise CausalgearError(f"{path} holds a JSON {type(data).__name__}, not the object its stage writes; {REMEDY}")
    return data


def shaped(path: Path, build, data: dict):
    """`build(data)`, where a field `build` needs and `data` lacks is one CausalgearError naming the
    file (a table cannot say "not summarised" in a cell)."""
    try:
        return build(data)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as err:
        raise CausalgearError(f"{path} is not the shape its stage writes (no {err}); {REMEDY}") from None
