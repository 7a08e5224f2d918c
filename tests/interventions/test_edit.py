"""The intervention primitive: exact at zero strength, exactly g(z') - g(z), always removed."""

import pytest
import torch

from causalgear.harvest.hooks import run_to_layer
from causalgear.interventions.edit import edit_site
from causalgear.interventions.sae_patch import add_direction, patch_coordinate
from causalgear.interventions.statistics import paired_bootstrap
from causalgear.models.loading import decoder_layers
from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.relu import ReLUSAE


def inputs(tokenizer):
    enc = tokenizer(["SELECT a FROM t", "SELECT price FROM items ORDER BY price DESC"], return_tensors="pt",
                    padding=True, padding_side="right")
    return enc["input_ids"], enc["attention_mask"]


def logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def firing_sae(arch, d_in=32):
    torch.manual_seed(0)
    sae = DeepReLUSAE(d_in, 16, [24, 12]) if arch == "deep_relu" else ReLUSAE(d_in, 48)
    with torch.no_grad():  # make codes fire on these activations
        (sae.encoder[-1].bias if arch == "deep_relu" else sae.b_enc).fill_(0.5)
    return sae.eval()


@pytest.mark.parametrize("arch", ["deep_relu", "relu"])
def test_zero_strength_edits_leave_the_logits_bit_identical(tiny_qwen2, arch):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    clean = logits(model, ids, mask)
    sae = firing_sae(arch)
    z = sae.encode(run_to_layer(model, ids, mask, 1))
    j = int(z.reshape(-1, z.shape[-1]).mean(0).argmax())
    # set z_j to itself: z' = z, so g(z') - g(z) is exactly zero
    with edit_site(model, 1, lambda h: patch_coordinate(sae, j, "interchange", sae.encode(h.float())[..., j])(h)):
        assert torch.equal(logits(model, ids, mask), clean)
    with edit_site(model, 1, add_direction(torch.randn(32), 0.0)):
        assert torch.equal(logits(model, ids, mask), clean)


@pytest.mark.parametrize("arch", ["deep_relu", "relu"])
def test_patching_moves_the_block_output_by_exactly_the_decoder_difference(tiny_qwen2, arch):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    sae = firing_sae(arch)
    h = run_to_layer(model, ids, mask, 1)
    z = sae.encode(h)
    j = int((z > 0).float().reshape(-1, z.shape[-1]).mean(0).argmax())
    assert (z[..., j] > 0).any()
    with edit_site(model, 1, patch_coordinate(sae, j, "zero")):
        patched = run_to_layer(model, ids, mask, 1)
    z_new = z.clone()
    z_new[..., j] = 0
    expected_delta = sae.decode(z_new) - sae.decode(z)
    torch.testing.assert_close(patched - h, expected_delta, rtol=1e-5, atol=1e-6)
    # only coordinate j moved: re-encoding the patched stream is not the point, the decoder
    # difference is; and the reconstruction error x - g(z) is carried over unchanged
    torch.testing.assert_close(patched - sae.decode(z_new), h - sae.decode(z), rtol=1e-5, atol=1e-6)


def test_the_hook_is_gone_after_exit_and_after_an_exception(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    block = decoder_layers(model)[1]
    before = len(block._forward_hooks)
    with edit_site(model, 1, lambda h: h * 2):
        assert len(block._forward_hooks) == before + 1
    assert len(block._forward_hooks) == before
    with pytest.raises(RuntimeError, match="boom"), edit_site(model, 1, lambda h: h * 2):
        raise RuntimeError("boom")
    assert len(block._forward_hooks) == before
    ids, mask = inputs(tokenizer)
    assert torch.equal(logits(model, ids, mask), logits(model, ids, mask))


def test_a_mask_edits_only_the_chosen_positions(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    h = run_to_layer(model, ids, mask, 0)
    where = torch.zeros_like(mask, dtype=torch.bool)
    where[:, 0] = True
    with edit_site(model, 0, lambda x: x + 1.0, positions=where):
        edited = run_to_layer(model, ids, mask, 0)
    torch.testing.assert_close(edited[:, 0], h[:, 0] + 1.0)
    assert torch.equal(edited[:, 1:], h[:, 1:])


def test_bad_patch_arguments_name_the_value():
    sae = firing_sae("relu")
    with pytest.raises(ValueError, match="coordinate 48 is out of range"):
        patch_coordinate(sae, 48, "zero")
    with pytest.raises(ValueError, match="causal.mode='swap'"):
        patch_coordinate(sae, 0, "swap")


def test_the_paired_bootstrap_matches_hand_computed_cases():
    # every prompt flips from wrong to right: the difference is 1 in every resample
    iv = paired_bootstrap([0, 0, 0, 0], [1, 1, 1, 1])
    assert (iv.delta, iv.low, iv.high, iv.n) == (1.0, 1.0, 1.0, 4)
    # two prompts, one flips: resample means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 95% percentile interval is [0, 1] around the observed 0.5
    iv = paired_bootstrap([0, 0], [1, 0], n_boot=20000, seed=1)
    assert iv.delta == 0.5 and iv.low == 0.0 and iv.high == 1.0
    assert not iv.excludes_zero()
    # seeded: the same interval twice
    a, b = [0, 1, 1, 0, 1] * 8, [1, 1, 1, 0, 1] * 8
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap([0, 1], [1])


def test_the_verdict_names_each_failed_check():
    from causalgear.interventions.causal import judge
    from causalgear.interventions.statistics import Interval

    strong, weak, zero = Interval(-0.5, -0.6, -0.4, 100), Interval(-0.1, -0.2, 0.0, 100), Interval(0.0, 0.0, 0.0, 100)
    checks, beats, verdict = judge(3, strong, weak, zero)
    assert beats and verdict == "coordinate 3 beats both controls on the test split"
    checks, beats, verdict = judge(3, weak, zero, strong)
    assert not beats and "includes zero" in verdict and "random direction" in verdict
    assert checks == {"excludes_zero": False, "beats_random_coordinate": False, "beats_random_direction": False}


def test_json_outputs_never_hold_nan(tmp_path):
    import json

    from causalgear.io import write_json

    write_json(tmp_path / "x.json", {"spearman": float("nan"), "rows": [1.0, float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"spearman": None, "rows": [1.0, None]}
