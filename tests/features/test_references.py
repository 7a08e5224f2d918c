"""Where a probe's false positives fall: beside the labelled tokens (labels too narrow), elsewhere in
an example with the concept, or in an example without it (the stream does not tell them apart)."""

import numpy as np

from causalgear.features.references import misses
from causalgear.features.stage import family, probe_by_family


def test_false_positives_are_placed_by_their_distance_to_a_label_of_their_example():
    # example 0: label at position 5; example 1: label at 2; example 2: no label
    where = np.array([[0, 5], [0, 6], [0, 9], [1, 2], [1, 3], [2, 4], [2, 5]])
    y = np.array([1, 0, 0, 1, 0, 0, 0], dtype=bool)
    predicted = np.array([1, 1, 1, 0, 1, 1, 0], dtype=bool)
    m = misses(predicted, y, where)
    # false positives: (0,6) near, (0,9) elsewhere in its example, (1,3) near, (2,4) without it
    assert m == {"false_positives": 4, "false_negatives": 1, "positives": 2, "near_a_label": 0.5,
                 "elsewhere_in_its_example": 0.25, "in_examples_without_it": 0.25}


def test_the_ceiling_is_pooled_by_family():
    assert family("question.agg.sum") == "question.agg" and family("question.where.op.ge") == "question.where.op"
    refs = {"question.agg.sum": {"linear_probe": {"f1": 0.4, "auroc": 0.99, "misses": {
                "false_positives": 10, "near_a_label": 1.0, "elsewhere_in_its_example": 0.0,
                "in_examples_without_it": 0.0}}},
            "question.agg.max": {"linear_probe": {"f1": 0.6, "auroc": 0.97, "misses": {
                "false_positives": 30, "near_a_label": 0.0, "elsewhere_in_its_example": 0.0,
                "in_examples_without_it": 1.0}}}}
    f = probe_by_family(refs)["question.agg"]
    assert (f["f1"], f["auroc"], f["false_positives"]) == (0.5, 0.98, 40)
    assert (f["near_a_label"], f["in_examples_without_it"]) == (0.25, 0.75)
