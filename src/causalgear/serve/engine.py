"""The model, the SAE and the database map behind the service; every method is synchronous and is
called from one worker thread, so one request's residual edit is active only during its own
forward passes (the edit is a context manager around that request's generation)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from causalgear.data.examples import format_prompt
from causalgear.data.sqlexec import execute
from causalgear.errors import CausalgearError
from causalgear.interventions.factory import Interventions
from causalgear.interventions.specs import AddLatent, Clamp, Grains, Spec, ZeroLatent
from causalgear.models.generate import generate_sql

# a request's `mode` (serve.mode's names) -> its spec on latent j at `scale`
REQUEST_SPECS = {"clamp": lambda j, scale: Clamp(j, scale), "zero": lambda j, scale: ZeroLatent(j),
                 "additive": lambda j, scale: AddLatent(j, scale), "grains": lambda j, scale: Grains(j, scale)}


class RequestError(ValueError):
    """A request that is well-formed JSON but asks for something this service does not have (-> 422)."""

    status = 422


class DatabaseUnusable(RequestError):
    """A database of the data set that is no longer a regular SQLite file (-> 503: the service's, not the request's)."""

    status = 503


class RequestTooLarge(RequestError):
    """A request whose work would exceed what one request may use (-> 413)."""

    status = 413


class DeadlineExceeded(RequestError):
    """The request's deadline passed before its work was done (-> 504); its work stops there."""

    status = 504


class Deadline:
    """One deadline for the whole request: the wait in the queue, attribution and generation."""

    def __init__(self, at: float | None = None):
        self.at = at

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def check(self, stage: str) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"the request's deadline passed before {stage}; its work was stopped")


NO_DEADLINE = Deadline()


class Engine:
    def __init__(self, cfg: DictConfig, out_dir: Path):
        from causalgear.sae.paths import saved_width
        from causalgear.workbench import Workbench, require_sae_path

        require_sae_path(cfg, "serve")
        self.cfg, self.s = cfg, cfg.serve
        self.default_feature = self._default_feature(cfg, saved_width(cfg.sae.path))  # before the model loads
        bench = Workbench.load(cfg, "serve")
        self.quantization = None
        if self.s.sae_quantization != "none":
            from causalgear.sae.io import load_sae
            from causalgear.sae.paths import Q4_WEIGHTS
            from causalgear.sae.quantize import save_quantized

            q_dir = save_quantized(bench.sae.cpu(), bench.sae_cfg, out_dir / "sae_q4")
            sae, sae_cfg = load_sae(q_dir)
            bench.sae = sae.to(next(bench.model.parameters()).device).requires_grad_(False)
            self.quantization = {"format": sae_cfg["causalgear"]["quantization"]["format"],
                                 "bytes": (q_dir / Q4_WEIGHTS).stat().st_size}
        self.model, self.tokenizer, self.sae, self.site = bench.model, bench.tokenizer, bench.sae, bench.site
        self.device = next(self.model.parameters()).device
        self.sae_path, self.store, self.stats, self.budget = bench.sae_path, bench.store, bench.stats, bench.budget
        self.interventions = Interventions(self.site, self.sae, self.stats)
        data = bench.source
        self.databases = {e.db_id: e.db_dir for split in data.served_splits for e in data.load(split)}
        self.sae_verified = bench.sae_verified
        self._top_tokens: dict[int, list[dict]] = {}
        self._top_tokens_lock = threading.Lock()
        # a prompt has no response yet: read F at the last prompt token
        steps = self.s.grains_ig_steps
        self._grains_cfg = OmegaConf.merge(cfg.steering, {"grains": {"readout": "last_prompt", "n_steps": steps,
                                                                     "internal_batch_size": steps}})

    @staticmethod
    def _default_feature(cfg: DictConfig, d_sae: int) -> int | None:
        """serve.feature, else steering.target.feature or evaluate's choice in its causal_path, else None."""
        j = cfg.serve.feature
        if j is not None and j >= d_sae:
            raise CausalgearError(f"serve.feature={j} is out of range: the SAE has {d_sae} coordinates "
                                  f"(0..{d_sae - 1})")
        if j is None and (cfg.steering.target.feature is not None or cfg.steering.target.causal_path):
            from causalgear.steering.target import resolve_feature

            j, _ = resolve_feature(cfg.steering.target, d_sae)
        return j

    @property
    def d_sae(self) -> int:
        return self.sae.d_sae

    def _feature(self, feature: int | None) -> int | None:
        j = self.default_feature if feature is None else feature
        if j is not None and not 0 <= j < self.d_sae:
            raise RequestError(f"feature {j} is out of range: the SAE has {self.d_sae} coordinates "
                               f"(0..{self.d_sae - 1})")
        return j

    def _code(self, h: torch.Tensor, j: int, fn=None) -> float:
        """Mean z_j over the prompt's positions of the site output `h` (after the edit `fn`, if any)."""
        with torch.no_grad():
            return float(self.sae.encode((fn(h) if fn is not None else h).float())[..., j].mean())

    def prompt_tokens(self, prompt: str) -> int:
        """The prompt's length in tokens, refused over `serve.max_prompt_tokens`: the bound on a
        request's time and memory is in tokens (a character can be three of them)."""
        n = len(self.tokenizer(prompt).input_ids)
        if n > self.s.max_prompt_tokens:
            raise RequestTooLarge(f"the prompt is {n} tokens, over this service's limit of {self.s.max_prompt_tokens} "
                                  f"(serve.max_prompt_tokens)")
        return n

    def generate(self, prompt: str | None, question: str | None, schema: str | None, feature: int | None,
                 mode: str | None, scale: float | None, max_new_tokens: int | None,
                 deadline: Deadline = NO_DEADLINE) -> dict:
        start = time.perf_counter()
        deadline.check("the request started")
        prompt = prompt if prompt is not None else format_prompt(question, schema)
        mode = mode or self.s.mode
        j = self._feature(feature) if mode != "none" else None
        scale = self.s.scale if scale is None else scale
        max_new = self.s.max_new_tokens if max_new_tokens is None else max_new_tokens
        if max_new > self.s.max_new_tokens_limit:
            raise RequestError(f"max_new_tokens={max_new} is over this service's limit of "
                               f"{self.s.max_new_tokens_limit}")
        self.prompt_tokens(prompt)
        spec: Spec | None = REQUEST_SPECS[mode](j, scale) if j is not None else None
        intervention, before, after = None, None, None
        record: dict = {}
        if isinstance(spec, Grains):  # attributed to this prompt first: its own perturber
            from causalgear.steering.methods.grains import Steerer

            steerer = Steerer(self._grains_cfg, self.tokenizer, self.sae, self.site, j)
            attributed = steerer.attribute(prompt, "")
            made = Interventions(self.site, self.sae, self.stats, perturber=steerer.perturber([attributed]))
            intervention = made.make(spec)
            before = self._code(self.site.run(torch.tensor([attributed.prompt_ids], device=self.device)), j)
            deadline.check("generation (after attribution)")
        elif spec is not None:  # zero / clamp write the prompt's z_j before and after into `record` as they patch
            intervention = self.interventions.make(spec, record=record)
        prepared = time.perf_counter()
        with self.site.read() as seen:  # the prompt's unedited stream (hooked before the edit): no extra pass
            (sql,) = generate_sql(self.model, self.tokenizer, [prompt], max_new_tokens=max_new, batch_size=1,
                                  intervention=intervention, max_time=deadline.remaining())
        done = time.perf_counter()
        if record:  # zero / clamp: the value the patch read, and the value it set
            before, after = float(record["before"].mean()), float(record["after"].mean())
        elif j is not None:  # additive: read back from the edited stream; grains: `seen` is the perturbed input's
            edit = None
            if isinstance(spec, AddLatent):
                before = self._code(seen["h"], j)
                edit = intervention.edit(torch.arange(1))
            after = self._code(seen["h"], j, edit)
        return {"sql": sql, "sql_tokens": len(self.tokenizer(sql, add_special_tokens=False).input_ids),
                "feature": j, "mode": mode if j is not None else None,
                "scale": scale if j is not None else None, "activation_before": before, "activation_after": after,
                "timings_ms": {"prepare": round(1000 * (prepared - start), 2),
                               "generate": round(1000 * (done - prepared), 2),
                               "measure": round(1000 * (time.perf_counter() - done), 2)}}

    def score(self, sql: str, db_id: str, gold_sql: str | None, deadline: Deadline = NO_DEADLINE) -> dict:
        import sqlparse.exceptions

        from causalgear.data.scoring import database_files, first_statement, score_sql
        from causalgear.data.sqlexec import database_problem

        deadline.check("the request started")
        if db_id not in self.databases:
            raise RequestError(f"db_id {db_id!r} is not a database of data={self.cfg.data.name} "
                               f"({len(self.databases)} known, e.g. {', '.join(sorted(self.databases)[:3])})")
        paths = database_files(self.databases[db_id])
        if not paths or (problem := database_problem(paths[0])) is not None:  # checked at start; a file can change
            raise DatabaseUnusable(f"database {db_id!r} cannot be used: "
                                   f"{f'{paths[0]} {problem}' if paths else 'its files are gone'}")
        try:  # as it is scored: the first statement, the rest never run
            first, dropped = first_statement(sql)
        except sqlparse.exceptions.SQLParseError:
            first, dropped = sql, None
        result = execute(paths[0], first, self.budget)
        rows = list(result.rows or ())
        out = {"db_id": db_id, "database": paths[0].name, "kind": result.kind, "error": result.error,
               "bound": result.bound, "dropped": dropped, "row_count": len(rows),
               "rows": [[json_value(v) for v in r] for r in rows[:50]], "seconds": round(result.seconds, 4)}
        if gold_sql is not None:
            verdict = score_sql(gold_sql, sql, paths, self.budget)
            out["correct"] = bool(verdict.correct)
        return out

    def feature_info(self, j: int, deadline: Deadline = NO_DEADLINE) -> dict:
        """What the store says of latent j. It reads the SAE and the store, never the model, so the
        service answers it beside the model queue; the first request finds every latent's top tokens
        in one pass over the store, the rest read them back."""
        deadline.check("the request started")
        j = self._feature(j)
        with self._top_tokens_lock:
            if not self._top_tokens:
                from causalgear.sae.code_stats import top_tokens_per_coordinate

                self._top_tokens = top_tokens_per_coordinate(self.sae, self.store, list(range(self.d_sae)),
                                                             self.tokenizer, self.s.top_tokens)
        return {"feature": j, "firing_rate": float(self.stats["firing_rate"][j]),
                "mean_activation": float(self.stats["mean"][j]),
                "mean_active_value": float(self.stats["mean_active"][j]), "top_tokens": self._top_tokens[j]}


def json_value(v: object, limit: int = 1000) -> object:
    """A SQLite value as JSON: a blob as X'hex', a non-finite float as its name, long text cut."""
    if isinstance(v, bytes):
        return f"X'{v[:limit // 2].hex().upper()}'" + ("…" if len(v) > limit // 2 else "")
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, str) and len(v) > limit:
        return v[:limit] + "…"
    return v

