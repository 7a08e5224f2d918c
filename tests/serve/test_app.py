"""The service over a real (smoke) model and SAE: answers, isolation, 4xx for bad input, back-pressure,
Prometheus metrics."""

import asyncio
import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from causalgear.data.loading import load_split
from causalgear.preflight import compose
from causalgear.serve.app import create_app
from causalgear.serve.engine import Engine


@pytest.fixture(scope="module")
def engine(smoke_sae, tmp_path_factory):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "serve.feature=1", "serve.max_new_tokens=16"])
    return Engine(cfg, tmp_path_factory.mktemp("serve"))


def call(app, *requests):
    """Send requests ((method, path, kwargs), ...) concurrently to the app; the responses in order."""

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            return await asyncio.gather(*(client.request(m, p, **kw) for m, p, kw in requests))

    return asyncio.run(go())


def prompt_of(engine) -> str:
    return load_split(engine.cfg)[0].prompt


def test_generate_answers_with_sql_activations_and_timings(engine):
    app = create_app(engine, engine.s)
    (r,) = call(app, ("POST", "/generate", {"json": {"prompt": prompt_of(engine), "mode": "clamp", "scale": 3}}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["sql"], str) and body["feature"] == 1 and body["mode"] == "clamp"
    # after: what the SAE reads back from the edited residual stream (measured, not the value set)
    assert body["activation_after"] > body["activation_before"] >= 0
    assert set(body["timings_ms"]) == {"prepare", "generate", "measure", "queue", "total"}
    e = load_split(engine.cfg)[0]
    (q,) = call(app, ("POST", "/generate", {"json": {"question": e.question, "schema": e.context, "mode": "zero"}}))
    assert q.status_code == 200 and q.json()["activation_after"] < q.json()["activation_before"]
    (plain,) = call(app, ("POST", "/generate", {"json": {"prompt": prompt_of(engine), "mode": "none"}}))
    assert plain.json()["feature"] is None and plain.json()["activation_after"] is None


def test_concurrent_requests_get_exactly_what_they_get_alone(engine):
    app = create_app(engine, engine.s)
    p = prompt_of(engine)
    bodies = [{"prompt": p, "feature": 1, "mode": "clamp", "scale": 40},
              {"prompt": p, "feature": 5, "mode": "additive", "scale": 30},
              {"prompt": p, "feature": 2, "mode": "grains", "scale": 2.0},
              {"prompt": p, "feature": 3, "mode": "zero"}]
    alone = [call(app, ("POST", "/generate", {"json": b}))[0].json() for b in bodies]
    together = call(app, *[("POST", "/generate", {"json": b}) for b in bodies])
    for a, t in zip(alone, together, strict=True):
        assert t.status_code == 200
        t = t.json()
        assert (t["sql"], t["activation_after"]) == (a["sql"], a["activation_after"])
    # the edits really differ: otherwise this test could not fail
    assert len({a["sql"] for a in alone}) > 1


@pytest.mark.parametrize("body, status, words", [
    ({"prompt": "x", "feature": 999}, 422, "feature 999 is out of range"),
    ({"prompt": "x", "max_new_tokens": -1}, 422, "max_new_tokens"),
    ({"prompt": "x", "max_new_tokens": 10**6}, 422, "over this service's limit"),
    ({"prompt": "x", "mode": "teleport"}, 422, "mode"),
    ({"question": "only a question"}, 422, "give either `prompt`"),
    ({"prompt": "x", "temperature": 2}, 422, "temperature"),
    ({"prompt": "x", "scale": "big"}, 422, "scale"),
])
def test_each_bad_generate_request_gets_its_4xx(engine, body, status, words):
    (r,) = call(create_app(engine, engine.s), ("POST", "/generate", {"json": body}))
    assert r.status_code == status and words in r.json()["error"], r.text


def test_bad_json_oversize_bodies_and_unknown_things_are_4xx(engine):
    app = create_app(engine, engine.s)
    bad_json, big, feat, feat_nan, db = call(
        app, ("POST", "/generate", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/generate", {"content": json.dumps({"prompt": "x" * 70_000}).encode(),
                               "headers": {"content-type": "application/json"}}),
        ("GET", "/features/999", {}), ("GET", "/features/abc", {}),
        ("POST", "/score", {"json": {"sql": "SELECT 1", "db_id": "no_such_db"}}))
    assert bad_json.status_code == 400 and "bad JSON" in bad_json.json()["error"]
    assert big.status_code == 413 and "over the limit" in big.json()["error"]
    assert feat.status_code == 404 and "does not exist" in feat.json()["error"]
    assert feat_nan.status_code == 422
    assert db.status_code == 422 and "no_such_db" in db.json()["error"]


def test_score_runs_sql_read_only_and_features_come_from_the_store(engine):
    app = create_app(engine, engine.s)
    e = load_split(engine.cfg)[0]
    ok, write, feat = call(app, ("POST", "/score", {"json": {"sql": e.sql, "db_id": e.db_id, "gold_sql": e.sql}}),
                           ("POST", "/score", {"json": {"sql": "DROP TABLE x", "db_id": e.db_id}}),
                           ("GET", "/features/1", {}))
    assert ok.status_code == 200 and ok.json()["correct"] is True and ok.json()["kind"] == "ok"
    assert write.status_code == 200 and write.json()["kind"] != "ok" and write.json()["error"]
    f = feat.json()
    assert f["feature"] == 1 and 0 < f["firing_rate"] <= 1 and len(f["top_tokens"]) == engine.s.top_tokens


def test_a_full_queue_answers_503_and_the_service_keeps_serving(engine):
    cfg = engine.s.copy()
    cfg.max_queue = 1
    app = create_app(engine, cfg)
    body = {"prompt": prompt_of(engine), "max_new_tokens": 16}
    responses = call(app, *[("POST", "/generate", {"json": body})] * 6)
    codes = [r.status_code for r in responses]
    assert 503 in codes and 200 in codes, codes
    assert "busy" in next(r for r in responses if r.status_code == 503).json()["error"]
    (after,) = call(app, ("POST", "/generate", {"json": body}))
    assert after.status_code == 200


def test_metrics_parse_as_prometheus_text(engine):
    app = create_app(engine, engine.s)
    call(app, ("GET", "/healthz", {}), ("POST", "/generate", {"json": {"prompt": "x", "feature": 999}}))
    (m,) = call(app, ("GET", "/metrics", {}))
    families = {f.name: f for f in text_string_to_metric_families(m.text)}
    counts = {(s.labels["endpoint"], s.labels["status"]): s.value for s in families["causalgear_requests"].samples
              if s.name == "causalgear_requests_total"}
    assert counts[("/healthz", "200")] == 1 and counts[("/generate", "422")] == 1
    assert "causalgear_request_seconds" in families and "causalgear_in_flight_requests" in families


def test_an_nf4_sae_serves_and_reports_its_size(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    engine = Engine(compose([*overrides, "serve.feature=1", "serve.sae_quantization=nf4"]), tmp_path)
    app = create_app(engine, engine.s)
    (h,) = call(app, ("GET", "/healthz", {}))
    q = h.json()["sae_quantization"]
    assert q["format"] == "bnb-nf4" and q["bytes"] > 0 and (tmp_path / "sae_q4" / "cfg.json").is_file()
    (r,) = call(app, ("POST", "/generate", {"json": {"prompt": prompt_of(engine), "mode": "clamp", "scale": 3}}))
    assert r.status_code == 200 and r.json()["activation_after"] > r.json()["activation_before"]


def test_a_default_feature_out_of_range_stops_the_service_at_start(smoke_sae, tmp_path):
    from causalgear.errors import CausalgearError

    overrides, _ = smoke_sae
    with pytest.raises(CausalgearError, match="serve.feature=8 is out of range"):
        Engine(compose([*overrides, "serve.feature=8"]), tmp_path)


def test_a_truncated_causal_json_stops_the_service_in_one_line_before_the_model_loads(smoke_sae, tmp_path,
                                                                                        monkeypatch):
    from causalgear.errors import CausalgearError
    from causalgear.serve import engine as engine_module

    (tmp_path / "causal.json").write_text('{"chosen": 1, "coord')
    monkeypatch.setattr("causalgear.models.loading.load_model", lambda *a, **k: pytest.fail("model loaded"))
    overrides, _ = smoke_sae
    with pytest.raises(CausalgearError, match="causal.json is not whole JSON") as err:
        engine_module.Engine(compose([*overrides, f"steering.target.causal_path={tmp_path}"]), tmp_path)
    assert "\n" not in str(err.value)


def test_a_feature_lookup_never_waits_behind_or_is_refused_by_the_model_queue(engine):
    cfg = engine.s.copy()
    cfg.max_queue = 1
    app = create_app(engine, cfg)
    body = {"prompt": prompt_of(engine), "max_new_tokens": 16}
    *generations, feat = call(app, *[("POST", "/generate", {"json": body})] * 4, ("GET", "/features/3", {}))
    assert 503 in [g.status_code for g in generations]  # the model queue was full ...
    assert feat.status_code == 200 and feat.json()["feature"] == 3  # ... and the lookup was answered
    # every latent's top tokens were found in that one pass: the next lookups read them back
    assert len(engine._top_tokens) == engine.d_sae


def test_only_its_own_clients_make_it_generate(engine, monkeypatch):
    """A browser page can POST text/plain cross-site without asking first, and a rebound domain
    reaches loopback with its own Host: neither makes the service generate; curl and httpx do."""
    calls = []
    real = engine.generate
    monkeypatch.setattr(engine, "generate", lambda *a, **k: calls.append(1) or real(*a, **k))
    app = create_app(engine, engine.s)
    body = json.dumps({"prompt": prompt_of(engine), "mode": "none", "max_new_tokens": 4})
    page = {"content-type": "text/plain", "origin": "https://evil.example"}
    refused = call(app,
                   ("POST", "/generate", {"content": body, "headers": page}),
                   ("POST", "/generate", {"content": body, "headers": {"content-type": "text/plain"}}),
                   ("POST", "/generate", {"content": body, "headers": {"content-type": "application/json",
                                                                       "origin": "https://evil.example"}}),
                   ("POST", "/generate", {"content": body, "headers": {"content-type": "application/json",
                                                                       "host": "rebound.evil.example:8765"}}),
                   ("GET", "/healthz", {"headers": {"host": "rebound.evil.example"}}))
    assert [r.status_code for r in refused] == [403, 415, 403, 421, 421]
    assert "application/json" in refused[1].json()["error"] and "serve.allowed_origins" in refused[2].json()["error"]
    assert calls == []  # nothing was generated
    ok = call(app, ("POST", "/generate", {"content": body, "headers": {"content-type": "application/json"}}),
              ("POST", "/generate", {"json": json.loads(body)}),
              ("POST", "/generate", {"json": json.loads(body), "headers": {"origin": "http://127.0.0.1:8765"}}))
    assert [r.status_code for r in ok] == [200, 200, 200] and len(calls) == 3


def test_a_front_end_and_a_host_name_are_allowed_on_purpose(engine):
    cfg = engine.s.copy()
    cfg.allowed_origins, cfg.allowed_hosts = ["http://localhost:3000"], ["gears.internal"]
    app = create_app(engine, cfg)
    got = call(app, ("GET", "/healthz", {"headers": {"origin": "http://localhost:3000"}}),
               ("GET", "/healthz", {"headers": {"host": "gears.internal:8765"}}),
               ("GET", "/healthz", {"headers": {"origin": "http://localhost:3001"}}))
    assert [r.status_code for r in got] == [200, 200, 403]


def test_a_database_that_became_a_fifo_is_a_503_not_a_hang(engine, tmp_path, monkeypatch):
    import os
    import time

    folder = tmp_path / "piped"
    folder.mkdir()
    os.mkfifo(folder / "piped.sqlite")
    monkeypatch.setitem(engine.databases, "piped", str(folder))  # a data set's database, replaced after start
    start = time.monotonic()
    (r,) = call(create_app(engine, engine.s), ("POST", "/score", {"json": {"sql": "SELECT 1", "db_id": "piped"}}))
    assert r.status_code == 503 and "is a named pipe, not a regular file" in r.json()["error"]
    assert time.monotonic() - start < 5
