"""The HTTP layer: request validation, a bounded queue in front of one model worker, time limits,
Prometheus metrics. Bad input is a 4xx with a message naming what is wrong, never a 500.

Requests that use the model run one at a time on a single worker thread: generation on a small
model is compute-bound, so running two at once would not finish either sooner, and serialising
keeps each request's residual edit scoped to its own forward passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from causalgear.config import ServeMode
from causalgear.serve.engine import Deadline, Engine, RequestError
from causalgear.serve.guard import refusal


class GenerateRequest(BaseModel):
    # strict: `"feature": true` is not feature 1, and `"scale": "2"` is not a number
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)
    prompt: str | None = Field(None, min_length=1, max_length=20_000)
    question: str | None = Field(None, min_length=1, max_length=5_000)
    db_schema: str | None = Field(None, alias="schema", min_length=1, max_length=20_000)
    feature: int | None = Field(None, ge=0)
    mode: Literal[tuple(m.value for m in ServeMode)] | None = None
    scale: float | None = Field(None, ge=-100, le=100, allow_inf_nan=False)
    max_new_tokens: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_prompt(self):
        if (self.prompt is None) == (self.question is None or self.db_schema is None):
            raise ValueError("give either `prompt`, or `question` and `schema` (CREATE TABLE statements)")
        return self


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sql: str = Field(min_length=1, max_length=20_000)
    db_id: str = Field(max_length=200)
    gold_sql: str | None = Field(None, max_length=20_000)


def _errors(err: ValidationError | RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors())


def create_app(engine: Engine, serve_cfg) -> FastAPI:
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="causalgear-model")
    # feature lookups read the SAE and the store, not the model: they never wait behind generation
    lookups = ThreadPoolExecutor(max_workers=1, thread_name_prefix="causalgear-features")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        worker.shutdown(wait=False, cancel_futures=True)
        lookups.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="causalgear", summary="SQL generation with SAE feature patching", lifespan=lifespan)
    registry = CollectorRegistry()
    requests = Counter("causalgear_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
                       registry=registry)
    latency = Histogram("causalgear_request_seconds", "request latency by endpoint", ["endpoint"], registry=registry,
                        buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 30.0))
    in_flight = Gauge("causalgear_in_flight_requests", "requests being served", registry=registry)
    queued = Gauge("causalgear_model_queue", "requests waiting for or running on the model", registry=registry)
    state = {"pending": 0}

    @app.middleware("http")  # inside `metrics`, which counts what it refuses
    async def guard(request: Request, call_next):
        if (refused := refusal(request.method, request.headers, serve_cfg)) is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        return await call_next(request)

    @app.middleware("http")
    async def metrics(request: Request, call_next):
        start = time.perf_counter()
        in_flight.inc()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            in_flight.dec()
            route = request.scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            requests.labels(endpoint, str(status)).inc()
            latency.labels(endpoint).observe(time.perf_counter() - start)

    async def body(request: Request, model_cls):
        limit = serve_cfg.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"request body of {declared} bytes is over the limit of {limit}")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise HTTPException(413, f"request body is over the limit of {limit} bytes")
        try:
            return model_cls.model_validate_json(bytes(raw))
        except ValidationError as err:
            if any(e["type"] == "json_invalid" for e in err.errors()):
                raise HTTPException(400, f"bad JSON: {err.errors()[0]['msg']}") from None
            raise HTTPException(422, _errors(err)) from None

    async def on_model(fn, *args):
        """Run `fn` on the model worker: 503 when the queue is full, 504 past the request's deadline.

        One deadline covers the whole request, its wait in the queue included; the worker checks it
        between phases and generation stops at it, so no work goes on behind a 504.
        """
        if state["pending"] >= serve_cfg.max_queue:
            raise HTTPException(503, f"the service is busy: {state['pending']} requests queued "
                                     f"(limit {serve_cfg.max_queue}); retry later")
        state["pending"] += 1
        queued.set(state["pending"])
        enqueued = time.perf_counter()
        deadline = Deadline(time.monotonic() + serve_cfg.request_timeout_s)
        try:
            loop = asyncio.get_running_loop()
            started: dict = {}

            def timed():
                started["t"] = time.perf_counter()
                return fn(*args, deadline=deadline)

            # the grace covers the one forward pass that may be under way at the deadline
            result = await asyncio.wait_for(loop.run_in_executor(worker, timed),
                                            timeout=serve_cfg.request_timeout_s + 1)
            return result, 1000 * (started["t"] - enqueued)
        except RequestError as err:
            raise HTTPException(err.status, str(err)) from None
        except TimeoutError:
            deadline.at = time.monotonic()  # the worker stops at its next check
            raise HTTPException(504, f"the request took longer than {serve_cfg.request_timeout_s} s") from None
        finally:
            state["pending"] -= 1
            queued.set(state["pending"])

    @app.post("/generate")
    async def generate(request: Request):
        start = time.perf_counter()
        req = await body(request, GenerateRequest)
        result, queue_ms = await on_model(engine.generate, req.prompt, req.question, req.db_schema, req.feature,
                                          req.mode, req.scale, req.max_new_tokens)
        result["timings_ms"].update(queue=round(queue_ms, 2), total=round(1000 * (time.perf_counter() - start), 2))
        return result

    @app.post("/score")
    async def score(request: Request):
        req = await body(request, ScoreRequest)
        result, _ = await on_model(engine.score, req.sql, req.db_id, req.gold_sql)
        return result

    @app.get("/features/{j}")
    async def feature(j: int):
        if not 0 <= j < engine.d_sae:
            raise HTTPException(404, f"feature {j} does not exist: the SAE has {engine.d_sae} coordinates "
                                     f"(0..{engine.d_sae - 1})")
        deadline = Deadline(time.monotonic() + serve_cfg.request_timeout_s)
        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
                lookups, lambda: engine.feature_info(j, deadline=deadline)), timeout=serve_cfg.request_timeout_s + 1)
        except RequestError as err:
            raise HTTPException(err.status, str(err)) from None
        except TimeoutError:
            raise HTTPException(504, f"the request took longer than {serve_cfg.request_timeout_s} s") from None

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": engine.cfg.model.name, "sae": engine.sae_path,
                "sae_verified": engine.sae_verified, "d_sae": engine.d_sae,
                "layer": engine.site.layer, "site": engine.site.kind, "sae_quantization": engine.quantization,
                "default_feature": engine.default_feature, "queued": state["pending"]}

    @app.get("/metrics")
    async def metrics_text():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException):
        return JSONResponse({"error": err.detail}, status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError):
        return JSONResponse({"error": _errors(err)}, status_code=422)

    return app


def serve(cfg, out_dir) -> None:
    """`causalgear serve`: load once, then serve until interrupted."""
    import torch
    import uvicorn

    if cfg.serve.threads > 0:
        torch.set_num_threads(cfg.serve.threads)
    engine = Engine(cfg, out_dir)
    app = create_app(engine, cfg.serve)
    print(f"serving {cfg.model.name} + SAE {engine.sae_path} on http://{cfg.serve.host}:{cfg.serve.port} "
          f"(POST /generate, POST /score, GET /features/{{j}}, /healthz, /metrics)", flush=True)
    uvicorn.run(app, host=cfg.serve.host, port=cfg.serve.port, log_level="warning")
