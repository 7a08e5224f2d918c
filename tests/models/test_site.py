"""The activation site: reading equals what a plain forward computes, blocks after the site never
run, edits are exact and always removed, gradients reach the input embeddings."""

import pytest
import torch

from causalgear.models.blocks import decoder_layers, first_tensor
from causalgear.models.site import Site, StopForward, position_ids


def run_to_layer(model, ids, mask, layer, kind="resid"):
    return Site(model, layer, kind).run(ids, mask)


def plain_hidden(model, ids, mask, layer):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer + 1]


def batch(tokenizer, texts):
    enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
    return enc["input_ids"], enc["attention_mask"]


@pytest.mark.parametrize("layer", [0, 1])
def test_resid_capture_equals_hidden_states_of_a_plain_forward(tiny_qwen2, layer):
    model, tokenizer = tiny_qwen2
    ids, mask = batch(tokenizer, ["SELECT a FROM t", "SELECT price, stock FROM items ORDER BY price DESC"])
    got = run_to_layer(model, ids, mask, layer)
    expected = plain_hidden(model, ids, mask, layer)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=1e-5, atol=1e-5)


def test_the_last_block_is_captured_before_the_final_norm(tiny_qwen2):
    # transformers stores the last hidden state after the model's final norm; the residual
    # stream we capture is the block's own output, before it
    model, tokenizer = tiny_qwen2
    ids, mask = batch(tokenizer, ["SELECT a FROM t", "SELECT price FROM items"])
    got = run_to_layer(model, ids, mask, 2)
    expected = plain_hidden(model, ids, mask, 2)
    real = mask.bool()
    torch.testing.assert_close(model.base_model.norm(got)[real], expected[real], rtol=1e-5, atol=1e-5)


def test_left_padding_gives_the_same_rows_as_right_padding(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    texts = ["SELECT a FROM t", "SELECT price, stock FROM items ORDER BY price DESC"]
    right = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right")
    left = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left")
    a = run_to_layer(model, right["input_ids"], right["attention_mask"], 1)[right["attention_mask"].bool()]
    b = run_to_layer(model, left["input_ids"], left["attention_mask"], 1)[left["attention_mask"].bool()]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_blocks_after_the_layer_are_never_called(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    hooks_before = [len(blk._forward_hooks) for blk in decoder_layers(model)]
    calls = [0] * len(decoder_layers(model))
    handles = [blk.register_forward_hook(lambda *a, i=i: calls.__setitem__(i, calls[i] + 1))
               for i, blk in enumerate(decoder_layers(model))]
    try:
        ids, mask = batch(tokenizer, ["SELECT a FROM t"])
        run_to_layer(model, ids, mask, 0)
    finally:
        for h in handles:
            h.remove()
    assert calls == [1, 0, 0]
    assert [len(blk._forward_hooks) for blk in decoder_layers(model)] == hooks_before  # ours removed


class TupleBlock(torch.nn.Module):
    """A block of the older transformers kind: returns (hidden_states,)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, *args, **kwargs):
        return (self.block(*args, **kwargs),)


def test_tuple_and_tensor_block_outputs_are_both_captured(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = batch(tokenizer, ["SELECT a FROM t", "SELECT b FROM u WHERE c = 1"])
    as_tensor = run_to_layer(model, ids, mask, 1)
    layers = decoder_layers(model)
    original = layers[1]
    layers[1] = TupleBlock(original)
    try:
        with Site(model, 1).read(stop=True) as out:
            try:
                model.base_model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                                 use_cache=False)
            except (StopForward, TypeError, AttributeError):
                pass  # later layers may not accept a tuple; we stop before them anyway
        assert out["h"].shape == as_tensor.shape
        torch.testing.assert_close(out["h"], as_tensor)
    finally:
        layers[1] = original
    x = torch.randn(2, 3, 4)
    assert first_tensor(x) is x and first_tensor((x, None)) is x  # not x[0], the first batch row
    with pytest.raises(TypeError):
        first_tensor({"h": x})


@pytest.mark.parametrize("site", ["mlp_out", "attn_out"])
def test_submodule_sites_capture_what_the_block_adds(tiny_qwen2, site):
    model, tokenizer = tiny_qwen2
    ids, mask = batch(tokenizer, ["SELECT a FROM t ORDER BY a"])
    acts = run_to_layer(model, ids, mask, 1, site)
    before = plain_hidden(model, ids, mask, 0)
    after = plain_hidden(model, ids, mask, 1)
    mlp = run_to_layer(model, ids, mask, 1, "mlp_out")
    attn = run_to_layer(model, ids, mask, 1, "attn_out")
    torch.testing.assert_close(before + attn + mlp, after, rtol=1e-4, atol=1e-5)  # the residual identity
    assert acts.shape == after.shape


def test_the_embedded_model_capture_matches_its_hidden_states(smoke_model):
    _, model, tokenizer = smoke_model
    ids, mask = batch(tokenizer, ["### Instruction: list name of cats ### Context: CREATE TABLE cats (name TEXT) "
                                  "### Response: SELECT name FROM cats", "### Instruction: x ### Response: "])
    real = mask.bool()
    torch.testing.assert_close(run_to_layer(model, ids, mask, 0)[real], plain_hidden(model, ids, mask, 0)[real],
                               rtol=1e-5, atol=1e-5)


def test_running_from_embeddings_keeps_the_graph_and_equals_running_from_ids(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = batch(tokenizer, ["SELECT a FROM t ORDER BY a"])
    site = Site(model, 1)
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    h = site.run(inputs_embeds=embeds, grad=True)
    torch.testing.assert_close(h.detach(), site.run(ids, mask), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(h[0, -1].sum(), embeds)
    assert grad[0, 0].abs().sum() > 0  # the last position reads the first through attention
    assert not site.run(ids, mask).requires_grad


def test_a_leaf_site_gives_the_gradient_of_a_loss_at_the_site(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = batch(tokenizer, ["SELECT a FROM t", "SELECT b FROM u"])
    site = Site(model, 1)
    with site.leaf() as leaf, torch.enable_grad():
        model(input_ids=ids, attention_mask=mask).logits[:, -1, 5].sum().backward()  # not the pad token: its row is 0
    assert leaf["h"].grad.shape == leaf["h"].shape and leaf["h"].grad[:, -1].abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_an_unknown_site_names_the_allowed_ones(tiny_qwen2):
    model, _ = tiny_qwen2
    with pytest.raises(ValueError, match="site 'mlp': one of resid, mlp_out, attn_out"):
        Site(model, 1, "mlp")
