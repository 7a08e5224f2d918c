"""The embedded model's card reports every split the project measures, also for a card built earlier."""

import json

from causalgear.data.tinysql import SHIFT_SETS, SHIFT_SPLITS, VALIDATION_SHIFT_SPLITS
from causalgear.models.embedded import CARD, CARD_SPLITS, embedded_dir
from causalgear.models.stages import build_model


def test_the_card_has_each_graded_shift_split_by_command_set(smoke_model):
    cfg, _, _ = smoke_model
    card = json.loads((embedded_dir(cfg.model, cfg.paths.cache_dir) / CARD).read_text())
    for split in CARD_SPLITS:
        by_set = card[f"{split}_accuracy"]
        assert all(0 <= v <= 1 for v in by_set.values())
        assert card[f"{split}_accuracy_mean"] == sum(by_set.values()) / len(by_set)
    for split in SHIFT_SPLITS + VALIDATION_SHIFT_SPLITS:  # each covers the command sets its element occurs in
        assert set(card[f"{split}_accuracy"]) == set(SHIFT_SETS[split.split(".")[1]])


def test_build_model_completes_a_card_from_an_earlier_build(smoke_model, tmp_path, capsys):
    cfg, _, _ = smoke_model
    path = embedded_dir(cfg.model, cfg.paths.cache_dir) / CARD
    full = json.loads(path.read_text())
    older = {k: v for k, v in full.items() if not k.startswith(("test_shift.", "validation_shift."))}
    path.write_text(json.dumps(older))
    card = build_model(cfg, tmp_path)
    assert card == full  # the same model and splits give the same figures
    assert json.loads(path.read_text()) == full and json.loads((tmp_path / CARD).read_text()) == full
    assert "graded shift" in capsys.readouterr().out
