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
    def question_span(self) -> tuple[int, int]:
        """Where the question sits in `prompt` (character offsets, end exclusive)."""
        return prompt_spans(self.question, self.context)[0]

    @property
    def context_span(self) -> tuple[int, int]:
        """Where the CREATE TABLE statements sit in `prompt`."""
        return prompt_spans(self.question, self.context)[1]

    @property
    def db_paths(self) -> tuple[Path, ...]:
        return database_files(self.db_dir)

    def as_dict(self) -> dict:
        return asdict(self)


INSTRUCTION, CONTEXT, RESPONSE = "### Instruction: ", " ### Context: ", " ### Response: "


def format_prompt(question: str, context: str) -> str:
    return f"{INSTRUCTION}{question}{CONTEXT}{context}{RESPONSE}"


def prompt_spans(question: str, context: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The question's and the context's character spans in `format_prompt(question, context)`,
    from the format itself: nothing searches the prompt for its markers."""
    q_end = len(INSTRUCTION) + len(question)
    c_at = q_end + len(CONTEXT)
    return (len(INSTRUCTION), q_end), (c_at, c_at + len(context))
