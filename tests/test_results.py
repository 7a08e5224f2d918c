"""A run's results are types: each field documented, written by one function and read back by one,
a method's random-SAE control its `twin` field, and docs/reference/outputs.md generated from them."""

import dataclasses
from pathlib import Path

import pytest

from causalgear import read_run
from causalgear.report import reference
from causalgear.results import (
    RESULT_TYPES,
    ConceptMethod,
    ConceptScore,
    ConceptTarget,
    Proportion,
    SplitMethod,
    SteeredSummary,
    Unsteered,
    documented,
    from_json,
    to_json,
)

FIXTURE_RUN = Path(__file__).parent / "report" / "fixtures" / "run"


def test_the_outputs_page_is_generated_from_the_types_and_in_step():
    assert reference.PAGE.read_text() == reference.page(), \
        "docs/reference/outputs.md is stale: python -m causalgear.report.reference"
    for cls in RESULT_TYPES:
        assert f"### {cls.__name__}" in reference.page()


def test_a_field_added_to_a_result_type_without_its_doc_fails_and_with_it_changes_the_page(monkeypatch):
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Undocumented(SplitMethod):
        """A split method with one more figure."""

        extra: float = 0.0

    with pytest.raises(ValueError, match="Undocumented.extra has no doc"):
        reference._section(Undocumented)

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Documented(SplitMethod):
        """A split method with one more figure."""

        extra: float = documented("one more figure", 0.0)

    before = reference.page()
    monkeypatch.setattr(reference, "RESULT_TYPES", (*RESULT_TYPES, Documented))
    assert reference.page() != before and "| `extra` | float | one more figure |" in reference.page()


def _method(delta: float, twin: SplitMethod | None = None) -> SplitMethod:
    return SplitMethod(method="clamp", feature=3, latent=7, scale=2.0, selection_curve=[{"scale": 2.0}],
                       test=SteeredSummary(delta=delta, ci_low=delta - 0.1, ci_high=delta + 0.1, n=10,
                                           component_flips={"aggregate": {"fixed": 1, "broken": 0}}),
                       described={"moved_latents": [7, 9]}, twin=twin)


def test_a_result_is_written_and_read_back_whole_its_twin_a_field():
    method = _method(0.2, twin=_method(0.0))
    written = to_json(method)
    assert written["twin"]["test"]["delta"] == 0.0 and written["moved_latents"] == [7, 9]  # beside the fields
    assert "described" not in written and "twin" not in written["twin"]  # no twin: left out, not null
    assert from_json(SplitMethod, written) == method
    score = ConceptScore(concept=1.0, instruction=1.0, fluency=1.0, score=Proportion(rate=1.0, ci_low=0.7,
                                                                                     ci_high=1.0, n=10))
    target = ConceptTarget(n_select=5, n_test=10, candidate_latents=[4],
                           methods={"none": Unsteered(latent=None, scale=0.0, test=score),
                                    "clamp": ConceptMethod(latent=4, scale=2.0, selection_score=0.8, test=score)})
    again = from_json(ConceptTarget, to_json(target))
    assert again == target and isinstance(again.methods["none"], Unsteered)  # each entry read as its type


def test_a_run_is_read_as_types():
    run = read_run(FIXTURE_RUN)
    methods = run.steering.methods
    assert isinstance(methods["clamp"], SplitMethod) and methods["clamp"].test.delta is not None
    cells = run.cause_isolate("order_direction")
    assert cells["top_2_latents"].twin is not None and cells["top_2_latents"].twin.twin is None
    chosen, twin = run.chosen()
    assert chosen.coordinate == run.causal["chosen"]
