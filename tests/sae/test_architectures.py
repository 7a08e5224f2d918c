"""Every architecture honours the interface; losses are what they say; checkpoints round-trip."""

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from causalgear.sae.base import Coefficient
from causalgear.sae.batchtopk import BatchTopKSAE
from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.deep_topk import DeepTopKSAE
from causalgear.sae.io import load_sae, save_sae
from causalgear.sae.jumprelu import JumpReLUSAE
from causalgear.sae.matryoshka import MatryoshkaSAE, prefix_sizes
from causalgear.sae.module import SAEModule
from causalgear.sae.relu import ReLUSAE
from causalgear.sae.topk import TopKSAE


def make(arch, d_in=12, seed=0):
    torch.manual_seed(seed)
    return {"deep_relu": lambda: DeepReLUSAE(d_in, 8, [32, 16]), "relu": lambda: ReLUSAE(d_in, 24),
            "topk": lambda: TopKSAE(d_in, 24, k=4),
            "deep_topk": lambda: DeepTopKSAE(d_in, 8, 3, [32, 16], dead_after_rows=8),
            "jumprelu": lambda: JumpReLUSAE(d_in, 24, threshold=0.05),
            "batchtopk": lambda: BatchTopKSAE(d_in, 24, k=4),
            "matryoshka": lambda: MatryoshkaSAE(d_in, 32, k=4)}[arch]()


ARCHS = ["deep_relu", "relu", "topk", "deep_topk", "jumprelu", "batchtopk", "matryoshka"]


def trainer_step(sae, l1_coeff: float) -> SAEModule:
    """The training step every architecture shares, with the SAE's declared coefficients."""
    return SAEModule(sae, sae.coefficients(SimpleNamespace(l1_coeff=l1_coeff, l1_warmup_steps=0)), lr=1e-3)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_is_decode_of_encode(arch):
    sae = make(arch)
    x = torch.randn(5, 12)
    torch.testing.assert_close(sae(x), sae.decode(sae.encode(x)))
    assert sae.encode(x).shape == (5, sae.d_sae) and (sae.encode(x) >= 0).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_one_latents_pre_activation_is_that_column_of_all_of_them(arch):
    torch.manual_seed(0)
    sae = make(arch)
    x = torch.randn(2, 5, 12)
    with torch.no_grad():  # trained-looking biases, so that the column's own bias term is exercised
        for p in sae.parameters():
            p.add_(0.1 * torch.randn_like(p))
    for j in (0, 3, sae.d_sae - 1):
        torch.testing.assert_close(sae.encode_pre_at(x, j), sae.encode_pre(x)[..., j], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch,k", [("topk", 4), ("deep_topk", 3)])
def test_topk_keeps_at_most_k_codes(arch, k):
    sae = make(arch)
    z = sae.encode(torch.randn(50, 12))
    assert ((z > 0).sum(-1) <= k).all() and ((z > 0).sum(-1) == k).any()


def test_deep_topk_loss_is_mse_until_codes_die_then_adds_auxk_by_hand():
    sae = make("deep_topk").train()
    step = trainer_step(sae, 0.0)
    x = torch.randn(6, 12)
    terms = step.losses(x)
    z = sae.encode(x)
    mse = ((sae.decode(z) - x) ** 2).sum() / x.numel()
    torch.testing.assert_close(terms["loss"], mse)  # 6 rows seen: none dead yet (dead after 8 rows without firing)
    dead = (z > 0).sum(0) == 0
    assert dead.any(), "3 of 8 codes per row over 6 rows leave some code silent"
    terms = step.losses(x)  # now 12 rows: the silent codes are dead (the trainer counts the rows)
    assert step.rows_since_fired[dead].tolist() == [12] * int(dead.sum())
    pre = sae.encode_pre(x)
    z_aux = z.clone()
    z_aux[:, dead] = torch.nn.functional.softplus(pre[:, dead])
    aux = ((sae.decode(z_aux) - x) ** 2).sum() / x.numel()
    torch.testing.assert_close(terms["aux"], aux)
    torch.testing.assert_close(terms["loss"], mse + aux / 32)


def test_deep_relu_loss_is_mse_plus_lambda_l1_by_hand():
    sae = make("deep_relu")
    x = torch.tensor([[0.5] * 12, [-1.0] * 6 + [2.0] * 6])
    terms = trainer_step(sae, 0.01).losses(x)
    z = sae.encode(x)
    mse = ((sae.decode(z) - x) ** 2).sum() / x.numel()
    l1 = z.abs().sum() / len(x)
    torch.testing.assert_close(terms["loss"], mse + 0.01 * l1)
    torch.testing.assert_close(terms["mse"], mse)


def test_relu_l1_is_weighted_by_decoder_row_norms():
    sae = make("relu")
    with torch.no_grad():
        sae.W_dec.mul_(torch.linspace(0.5, 3.0, 24).unsqueeze(1))
        sae.b_enc.fill_(0.1)  # make some codes fire
    x = torch.randn(4, 12)
    z = sae.encode(x)
    expected = (z * sae.W_dec.norm(dim=1)).sum() / len(x)
    torch.testing.assert_close(trainer_step(sae, 1.0).losses(x)["l1"], expected)


def test_a_coefficient_warms_up_linearly_over_its_steps():
    c = Coefficient(0.5, warmup_steps=4)
    assert [c.at(step) for step in range(6)] == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    assert Coefficient(0.5).at(0) == 0.5


def test_topk_declares_its_auxk_term_and_the_l1():
    sae = make("topk")
    coefficients = sae.coefficients(SimpleNamespace(l1_coeff=0.0, l1_warmup_steps=0))
    assert coefficients == {"aux": Coefficient(1 / 32), "l1": Coefficient(0.0)}


@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_gives_identical_outputs(arch, tmp_path):
    sae = make(arch).eval()
    save_sae(sae, tmp_path / "sae", layer=2, site="resid", model_name="tiny")
    loaded, cfg = load_sae(tmp_path)  # a run dir holding sae/ works too
    x = torch.randn(7, 12)
    assert torch.equal(sae(x), loaded(x))
    assert cfg["causalgear"]["arch"] == arch


@pytest.mark.parametrize("arch", ARCHS)
def test_folding_the_scale_makes_the_sae_read_raw_activations(arch):
    sae = make(arch).eval()
    x_raw = torch.randn(6, 12) * 7.0
    scale = 0.37
    expected = sae(x_raw * scale) / scale
    sae.fold_scale(scale)
    torch.testing.assert_close(sae(x_raw), expected, rtol=1e-5, atol=1e-5)


def test_relu_checkpoint_matches_saelens_format(tmp_path):
    sae = make("relu")
    save_sae(sae, tmp_path, layer=3, site="resid", model_name="tinysql")
    tensors = load_file(tmp_path / "sae_weights.safetensors")
    assert set(tensors) == {"W_enc", "W_dec", "b_enc", "b_dec"}
    assert tensors["W_enc"].shape == (12, 24) and tensors["W_dec"].shape == (24, 12)
    assert tensors["b_enc"].shape == (24,) and tensors["b_dec"].shape == (12,)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == "standard" and cfg["d_in"] == 12 and cfg["d_sae"] == 24
    assert cfg["hook_name"] == "blocks.3.hook_resid_post" and cfg["dtype"] == "float32"
    assert cfg["apply_b_dec_to_input"] is True and cfg["normalize_activations"] == "none"
    assert cfg["metadata"]["hook_name"] == "blocks.3.hook_resid_post"


def test_topk_checkpoint_records_k(tmp_path):
    save_sae(make("topk"), tmp_path, layer=0, site="mlp_out", model_name="m")
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["k"] == 4 and cfg["hook_name"] == "blocks.0.hook_mlp_out"


def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    from causalgear.sae.io import SAELoadError

    save_sae(make("relu"), tmp_path, layer=0, site="resid", model_name="m")
    (tmp_path / "sae_weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(SAELoadError, match="corrupt SAE checkpoint"):
        load_sae(tmp_path)
    with pytest.raises(SAELoadError, match="no SAE"):
        load_sae(tmp_path / "elsewhere")


@pytest.mark.parametrize("arch", ["relu", "topk", "deep_relu", "deep_topk"])
def test_one_flipped_byte_in_the_weights_is_refused_naming_the_file(arch, tmp_path):
    """A flipped mantissa bit still parses as safetensors: only the checksum in cfg.json sees it."""
    from causalgear.sae.io import SAELoadError

    save_sae(make(arch), tmp_path, layer=0, site="resid", model_name="m")
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert len(cfg["causalgear"]["weights_sha256"]) == 64
    weights = tmp_path / "sae_weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's values
    weights.write_bytes(bytes(data))
    with pytest.raises(SAELoadError, match=r"sae_weights\.safetensors does not match the sha256"):
        load_sae(tmp_path)


def test_the_quantized_weights_carry_their_own_checksum(tmp_path):
    from causalgear.sae.io import SAELoadError
    from causalgear.sae.quantize import Q4_WEIGHTS, save_quantized

    sae, cfg = load_sae(save_sae(make("relu"), tmp_path / "full", layer=0, site="resid", model_name="m"))
    q_dir = save_quantized(sae, cfg, tmp_path / "q4")
    load_sae(q_dir)  # its own sha256, not the float32 file's
    data = bytearray((q_dir / Q4_WEIGHTS).read_bytes())
    data[-1] ^= 0x10
    (q_dir / Q4_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(SAELoadError, match="does not match the sha256"):
        load_sae(q_dir)


def test_saelens_loads_the_relu_checkpoint_and_computes_the_same(tmp_path):
    pytest.importorskip("sae_lens", reason="the bench extra (sae-lens) is not installed")
    from sae_lens import SAE

    sae = make("relu").eval()
    with torch.no_grad():
        sae.b_enc.fill_(0.05)
        sae.b_dec.normal_()
    save_sae(sae, tmp_path, layer=1, site="resid", model_name="m")
    theirs = SAE.load_from_disk(str(tmp_path), device="cpu")
    x = torch.randn(9, 12) * 2
    torch.testing.assert_close(theirs.encode(x), sae.encode(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(theirs(x), sae(x), rtol=1e-5, atol=1e-6)


def test_jumprelu_fires_above_its_threshold_and_its_l0_penalty_moves_the_threshold():
    sae = make("jumprelu")
    x = torch.randn(64, 12)
    with torch.no_grad():
        pre, z = sae.encode_pre(x), sae.encode(x)
    assert torch.equal(z, pre * (pre > 0.05))
    step = trainer_step(sae, 1.0)
    terms = step.losses(x)
    assert float(terms["l0_penalty"]) == pytest.approx(float((pre > 0.05).float().sum(-1).mean()))
    terms["l0_penalty"].backward()
    # the straight-through estimator: rows near the threshold give it a gradient, raising it lowers L0
    assert sae.log_threshold.grad is not None and (sae.log_threshold.grad <= 0).all() and sae.log_threshold.grad.any()


def test_batchtopk_keeps_k_per_row_on_average_in_training_and_uses_its_threshold_after():
    sae = make("batchtopk").train()
    x = torch.randn(32, 12)
    with torch.no_grad():
        z = sae.encode(x)
    assert int((z > 0).sum()) == 4 * 32 and not ((z > 0).sum(-1) == 4).all()  # a batch budget, not a row budget
    kept_min = float(z[z > 0].min())
    assert float(sae.threshold) == pytest.approx(kept_min)
    sae.eval()
    with torch.no_grad():
        pre = sae.encode_pre(x)
        assert torch.equal(sae.encode(x), torch.relu(pre) * (pre > kept_min))


def test_matryoshka_adds_each_proper_prefix_s_reconstruction_error_by_hand():
    sae = make("matryoshka").train()
    assert sae.prefixes == prefix_sizes(32) == [2, 4, 8, 16, 32]
    x = torch.randn(16, 12)
    terms = trainer_step(sae, 0.0).losses(x)
    z = terms["z"]
    nested = sum(((z[:, :m] @ sae.W_dec[:m] + sae.b_dec - x) ** 2).mean() for m in (2, 4, 8, 16))
    torch.testing.assert_close(terms["prefixes"], nested)
    torch.testing.assert_close(terms["loss"], terms["mse"] + nested + terms["aux"] / 32)


def planted_hierarchy(n: int, g: torch.Generator) -> torch.Tensor:
    """Rows of a parent feature with one of four children (a hierarchy), or of a lone feature."""
    basis = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(0)))[0]
    parent, lone, children = basis[0], basis[1], basis[2:6]
    has_parent = torch.rand(n, generator=g) < 0.5
    which = torch.randint(0, 4, (n,), generator=g)
    a, b = 0.5 + torch.rand(n, 1, generator=g), 0.5 + torch.rand(n, 1, generator=g)
    return torch.where(has_parent[:, None], a * parent + b * children[which], a * lone)


def test_matryoshka_s_small_prefixes_reconstruct_a_planted_hierarchy_better_than_batchtopk_s():
    """The property the nesting buys: trained alike on the same rows, the first latents of a
    Matryoshka SAE reconstruct alone what a BatchTopK SAE's first latents cannot."""
    prefix_mse = {}
    for cls in (MatryoshkaSAE, BatchTopKSAE):
        torch.manual_seed(0)
        sae = cls(12, 32, k=2).train()
        step = trainer_step(sae, 0.0)
        opt = torch.optim.Adam(sae.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(1)
        for _ in range(300):
            terms = step.losses(planted_hierarchy(128, g))
            opt.zero_grad()
            terms["loss"].backward()
            opt.step()
            sae.post_step()
        x = planted_hierarchy(512, torch.Generator().manual_seed(2))
        with torch.no_grad():
            z = sae.activation(sae.encode_pre(x))
            prefix_mse[cls.arch] = [float(((z[:, :m] @ sae.W_dec[:m] + sae.b_dec - x) ** 2).mean()) for m in (2, 4)]
            full = float(((sae.decode(z) - x) ** 2).mean())
        assert full < 0.2 * float(x.var(0).sum() / x.shape[1]), cls.arch  # both reconstruct the rows
    assert all(m < b for m, b in zip(prefix_mse["matryoshka"], prefix_mse["batchtopk"], strict=True)), prefix_mse
