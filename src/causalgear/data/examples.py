"""The one example type every data set produces, and the prompt format."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from causalgear.data.scoring import database_files


@dataclass(frozen=True)
class Example:
    id: str
    split: str
    group: str  # command set (TinySQL) or difficulty (Spider)
    db_id: str
    question: str
    context: str  # CREATE TABLE statements, one line
    sql: str
    db_dir: str  # directory of this schema's database files

    @property
    def prompt(self) -> str:
        return format_prompt(self.question, self.context)

    @property
    def db_paths(self) -> tuple[Path, ...]:
        return database_files(self.db_dir)

    def as_dict(self) -> dict:
        return asdict(self)


def format_prompt(question: str, context: str) -> str:
    return f"### Instruction: {question} ### Context: {context} ### Response: "
