"""What a stage reads that an earlier stage or the user wrote, checked before its first heavy step.

`validate` checks the config's values and paths; this checks the files behind them, each with the
reader the stage itself uses: the SAE's weights against the sha256 its cfg.json records (again
where they load, `sae.io.load_sae`), evaluate's causal.json (features reads it beside the SAE,
steer from `steering.target.causal_path`), the shipped model's files against their recorded sha256,
the embedded model's card, and the Spider databases of every split a stage scores. A damaged file
is one line naming it, in seconds, where it was a traceback after minutes of work. Nothing here imports torch.
"""

from __future__ import annotations

from omegaconf import DictConfig

from causalgear.io import read_json
from causalgear.preflight import SAE_READING_STAGES

# the stages that read the embedded model's card (steer: the validation-side shift figures)
CARD_STAGES = ("build-model", "steer", "pipeline")
# the stages that load the model (the shipped model's hashes are verified before any of them works)
MODEL_STAGES = ("build-model", "accuracy", "harvest", "train", "evaluate", "features", "steer", "select", "serve",
                "pipeline")
# the stages that score examples of the configured data (and so open its databases)
SCORING_STAGES = ("accuracy", "data", "harvest", "train", "evaluate", "features", "steer", "serve", "pipeline")


def check_inputs(cfg: DictConfig) -> None:
    """Every file `cfg.stage` will read, read now; raises CausalgearError naming the first bad one."""
    stage = cfg.stage
    if stage in SAE_READING_STAGES and cfg.sae.path is not None:
        from causalgear.sae.paths import sae_dir, saved_cfg, verify_weights

        verify_weights(sae_dir(cfg.sae.path), saved_cfg(cfg.sae.path))
    if stage == "features" and cfg.sae.path is not None:
        from causalgear.sae.paths import causal_json_beside, sae_dir

        causal = causal_json_beside(sae_dir(cfg.sae.path))
        if causal.is_file():
            read_json(causal, "rerun `causalgear evaluate` beside this SAE, or delete the file")
    target = cfg.steering.target
    if stage == "steer" and target.feature is None and target.causal_path is not None:
        from causalgear.steering.target import causal_json_at, chosen_coordinate

        path = causal_json_at(target.causal_path)
        if path.is_file():  # a missing one is named where the feature is resolved
            chosen_coordinate(path)
    if stage in MODEL_STAGES and cfg.model.name_or_path == "embedded":
        from causalgear.models.shipped import shipped_dir, verify

        shipped = shipped_dir(cfg.model)
        if shipped is not None:
            verify(shipped)
    if stage in CARD_STAGES and cfg.model.name_or_path == "embedded":
        from causalgear.models.recipe import CARD
        from causalgear.models.shipped import model_dir

        card = model_dir(cfg.model, cfg.paths.cache_dir) / CARD
        if card.is_file():
            read_json(card, f"delete {card.parent} to rebuild the model (causalgear build-model)")
    if stage in SCORING_STAGES:
        from causalgear.data.sources import source

        for data in (cfg.data, *(cfg.get("transfer") or {}).values()):
            source(data, cfg.paths.cache_dir).check_databases()
