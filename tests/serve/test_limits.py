"""The service's worst requests, through a real uvicorn server on loopback: every one is a 4xx or a
504 within its deadline, never a 500, and the next normal request is served at normal latency."""

import threading
import time

import httpx
import pytest
import uvicorn

from causalgear.data.loading import load_split
from causalgear.preflight import compose
from causalgear.serve.app import create_app
from causalgear.serve.engine import Engine

MODES = ("clamp", "zero", "additive", "grains", "none")


@pytest.fixture(scope="module")
def engine(smoke_sae, tmp_path_factory):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "serve.feature=1", "serve.max_new_tokens=16", "serve.max_prompt_tokens=256"])
    return Engine(cfg, tmp_path_factory.mktemp("serve-limits"))


@pytest.fixture
def serve(engine):
    """serve(**overrides of the serve config) -> the base URL of a running server."""
    servers = []

    def start(**overrides):
        cfg = engine.s.copy()
        for k, v in overrides.items():
            cfg[k] = v
        server = uvicorn.Server(uvicorn.Config(create_app(engine, cfg), host="127.0.0.1", port=0, log_level="error"))
        threading.Thread(target=server.run, daemon=True).start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        servers.append(server)
        return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.should_exit = True


def timed_post(url, path, body=None, content=None):
    start = time.monotonic()
    r = httpx.post(url + path, json=body, content=content, timeout=60,
                   headers={"content-type": "application/json"} if content is not None else None)
    return r, time.monotonic() - start


def normal(engine):
    return {"prompt": load_split(engine.cfg)[0].prompt, "mode": "clamp", "max_new_tokens": 16}


@pytest.mark.parametrize("mode", MODES)
def test_a_60kb_prompt_is_refused_by_its_tokens_in_every_mode(engine, serve, mode):
    url = serve()
    _, baseline = timed_post(url, "/generate", normal(engine))
    # 20,000 CJK characters: within the character limit, 60 KB of UTF-8, tens of thousands of tokens
    r, seconds = timed_post(url, "/generate", {"prompt": "漢" * 20_000, "mode": mode, "scale": 0.5})
    assert r.status_code == 413, r.text
    assert "tokens, over this service's limit of 256" in r.json()["error"]
    assert seconds < engine.s.request_timeout_s + 2
    r, seconds = timed_post(url, "/generate", {"prompt": "a" * 60_000, "mode": mode})  # ASCII: over the characters
    assert r.status_code == 422 and seconds < engine.s.request_timeout_s + 2
    r, after = timed_post(url, "/generate", normal(engine))
    assert r.status_code == 200 and after < max(3 * baseline, baseline + 1.0), (baseline, after)


def test_work_past_the_deadline_is_stopped_and_the_next_request_is_served(engine, serve):
    """Eight grains requests at once with a deadline shorter than their work: each is answered within
    the deadline + 2 s; those still queued at their deadline never run, so the worker is free at once."""
    timeout = 0.25
    url = serve(request_timeout_s=timeout, max_queue=16)
    body = {"prompt": load_split(engine.cfg)[0].prompt, "mode": "grains", "scale": 0.5, "max_new_tokens": 64}
    results: list = [None] * 8

    def one(i):
        results[i] = timed_post(url, "/generate", body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code in (200, 504) for r, _ in results), [r.text for r, _ in results]
    assert any(r.status_code == 504 for r, _ in results)
    assert all(s < timeout + 2 for _, s in results), [s for _, s in results]
    assert all("deadline" in r.json()["error"] or "longer than" in r.json()["error"]
               for r, _ in results if r.status_code == 504)
    # the worker is not busy with the timed-out requests' work
    r, seconds = timed_post(url, "/generate", {"prompt": body["prompt"], "mode": "none", "max_new_tokens": 1})
    assert r.status_code in (200, 504) and time.monotonic() - start < 8 * timeout + 4


@pytest.mark.parametrize(("body", "words"), [
    ({"prompt": ""}, "prompt"),
    ({"question": "", "schema": "CREATE TABLE t (a INT)"}, "question"),
    ({"prompt": "x", "feature": True}, "feature"),
    ({"prompt": "x", "scale": "2"}, "scale"),
])
def test_empty_or_loosely_typed_fields_are_422_not_500(engine, serve, body, words):
    r, _ = timed_post(serve(), "/generate", body)
    assert r.status_code == 422 and words in r.json()["error"], r.text


def test_a_nan_scale_is_called_not_finite(engine, serve):
    r, _ = timed_post(serve(), "/generate", content=b'{"prompt": "x", "scale": NaN}')
    assert r.status_code in (400, 422) and "finite" in r.json()["error"], r.text


@pytest.mark.parametrize(("sql", "value"), [("SELECT x'ff00'", "X'FF00'"), ("SELECT 1e999", "inf"),
                                            ("SELECT -1e999", "-inf")])
def test_score_returns_blobs_and_infinite_floats_as_json(engine, serve, sql, value):
    db_id = load_split(engine.cfg)[0].db_id
    r, _ = timed_post(serve(), "/score", {"sql": sql, "db_id": db_id})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[value]] and r.json()["kind"] == "ok"


def test_score_of_a_hostile_query_names_its_bound(engine, serve):
    db_id = load_split(engine.cfg)[0].db_id
    r, seconds = timed_post(serve(), "/score", {"sql": "SELECT length(randomblob(200000000))", "db_id": db_id})
    assert r.status_code == 200 and r.json()["kind"] == "limit" and r.json()["bound"] == "value_length"
    assert seconds < 2


def test_score_runs_the_first_statement_as_scoring_does_and_never_the_rest(engine, serve):
    e = load_split(engine.cfg)[0]
    r, _ = timed_post(serve(), "/score", {"sql": f"{e.sql}; DROP TABLE x", "db_id": e.db_id, "gold_sql": e.sql})
    body = r.json()
    assert r.status_code == 200 and body["kind"] == "ok" and body["correct"] is True
    assert body["dropped"] == "DROP TABLE x" and body["row_count"] > 0
