"""Attribution patching: the first-order estimate matches a small real patch, for all codes at once."""

import torch

from causalgear.data.loading import load_split
from causalgear.interventions.attribution import attribution_scores, spearman
from causalgear.interventions.types import CodePatch, ZeroCode
from causalgear.models.site import Site
from causalgear.models.teacher_forcing import prompt_sql_batch, sql_loss_sum
from causalgear.preflight import compose
from causalgear.sae.deep_relu import DeepReLUSAE


class Shrink(CodePatch):
    """z_j scaled by (1 - eps): a small real patch in the zero-ablation direction."""

    def __init__(self, site, sae, j, eps):
        super().__init__(site, sae, j)
        self.eps = eps

    def value(self, z_j, example_index):
        return (1 - self.eps) * z_j


def test_scores_match_a_finite_difference_of_the_gold_log_likelihood(tiny_qwen2, tmp_path):
    model, tokenizer = tiny_qwen2
    cfg = compose([f"paths.cache_dir={tmp_path}", "data.n_train_per_set=10", "data.n_test_per_set=2",
                   "data.n_schemas=5"])
    examples = load_split(cfg, "test")[:4]
    torch.manual_seed(0)
    sae = DeepReLUSAE(32, 8, [16, 12]).eval()
    with torch.no_grad():
        sae.encoder[-1].bias.fill_(0.3)
    site = Site(model, 1)
    scores = attribution_scores(tokenizer, sae, examples, site, ZeroCode.code_delta)
    assert scores.shape == (8,) and scores.abs().sum() > 0
    ids, mask, labels = prompt_sql_batch(tokenizer, examples, "cpu")
    base = -sql_loss_sum(model, ids, mask, labels) / len(examples)
    eps = 1e-3
    for j in scores.abs().argsort(descending=True)[:3].tolist():
        # shrink z_j by eps: the real change is eps x the zero-ablation estimate, to first order
        with Shrink(site, sae, j, eps).applied({"example_index": torch.arange(len(ids))}):
            real = -sql_loss_sum(model, ids, mask, labels) / len(examples) - base
        assert abs(real - eps * float(scores[j])) <= 0.05 * abs(eps * float(scores[j])) + 1e-6, (j, real)


def test_spearman_handles_ties_and_order():
    assert spearman([1, 2, 3], [10, 20, 30]) == 1.0
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert abs(spearman([1, 2, 2, 3], [1, 2, 2, 3]) - 1.0) < 1e-12


def test_spearman_of_a_constant_side_is_undefined():
    import math

    assert math.isnan(spearman([1, 2, 3], [0, 0, 0]))
