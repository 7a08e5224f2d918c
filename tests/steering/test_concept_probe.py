"""Probe-guided steering: a probe reads the value the question asks for; each value has its DiffMean direction."""

import numpy as np
import pytest
import torch

from causalgear.data.components import components
from causalgear.data.loading import load_split
from causalgear.preflight import compose
from causalgear.steering.arms import question_features
from causalgear.steering.methods.base import MethodSkipped
from causalgear.steering.methods.concept_probe import ConceptProbe, ConceptProbeSteering, writer_activation
from causalgear.steering.methods.context import SteerContext
from causalgear.workbench import Workbench


def _bench(smoke_sae):
    overrides, _ = smoke_sae
    return Workbench.load(compose(overrides, stage="steer"), "steer")


def test_the_probe_reads_the_order_direction_and_each_value_has_its_direction(smoke_sae):
    bench = _bench(smoke_sae)
    train, test = load_split(bench.cfg, "train"), load_split(bench.cfg, "test")
    probe = ConceptProbe(bench, train, question_features(bench, train), "order_direction", 0)
    assert set(probe.directions) == {"ASC", "DESC", "none"} and not probe.directions["none"].any()
    gold = [components(e.sql)["order_direction"] or "none" for e in test]
    features = question_features(bench, test)
    assert np.mean([r == g for r, g in zip(probe.read(features), gold, strict=True)]) >= 0.8
    vectors = probe.vectors(features)
    assert vectors.shape == (len(test), bench.sae.d_in)
    # the two named directions are centred on their mean: they point opposite ways
    assert torch.cosine_similarity(probe.directions["ASC"], probe.directions["DESC"], dim=0) < 0


def test_the_writer_is_the_position_before_the_value_token(smoke_sae):
    bench = _bench(smoke_sae)
    e = next(e for e in load_split(bench.cfg, "test") if e.sql.endswith("DESC"))
    prompt_ids = bench.tokenizer(e.prompt).input_ids
    sql_ids = bench.tokenizer(e.sql, add_special_tokens=False).input_ids
    full = bench.site.run(torch.tensor([prompt_ids + sql_ids]))[0]
    k = len(sql_ids) - len(bench.tokenizer(" DESC", add_special_tokens=False).input_ids)
    assert torch.equal(writer_activation(bench, e, "DESC"), full[len(prompt_ids) + k - 1].float())
    assert writer_activation(bench, e, "NOWHERE") is None


def test_splits_without_one_categorical_component_get_no_probe(smoke_sae):
    bench = _bench(smoke_sae)
    with pytest.raises(MethodSkipped, match="shifts no element"):
        ConceptProbeSteering(SteerContext.of(bench, 0, [0], "test_shift.aggregate", {}))
