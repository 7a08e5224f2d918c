"""Activation patching pairs are equal-length single corruptions; recovery behaves as it must."""

from causalgear.data.loading import load_split
from causalgear.interventions.activation_patching import KINDS, make_pairs, patch_pair


def test_pairs_are_equal_length_and_differ_only_where_corrupted(smoke_model):
    cfg, model, tokenizer = smoke_model
    pairs = make_pairs(tokenizer, load_split(cfg, "test"), per_kind=2)
    assert {p["kind"] for p in pairs} == set(KINDS)
    for p in pairs:
        a = tokenizer(p["clean"], add_special_tokens=False).input_ids
        b = tokenizer(p["corrupt"], add_special_tokens=False).input_ids
        assert len(a) == len(b) and a != b


def test_recovery_is_one_row_per_layer_and_zero_at_the_last_block(smoke_model):
    cfg, model, tokenizer = smoke_model
    pair = make_pairs(tokenizer, load_split(cfg, "test"), per_kind=1)[0]
    result = patch_pair(model, tokenizer, pair)
    n_prompt = len(tokenizer(pair["clean"], add_special_tokens=False).input_ids)
    assert len(result["recovery"]) == model.config.num_hidden_layers
    assert all(len(row) == n_prompt for row in result["recovery"])
    assert result["corrupted_positions"]
    # a patch at the last block reaches only its own position's logits, never the SQL tokens'
    # (except the last prompt token, which predicts the first SQL token)
    assert all(abs(v) < 1e-6 for v in result["recovery"][-1][:-1])
