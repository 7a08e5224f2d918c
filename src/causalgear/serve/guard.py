"""Who the service answers: its own clients, not any web page a user has open.

A browser sends a cross-site POST without asking first (a CORS "simple request") when its body is
`text/plain`, so a service that reads JSON from any content type can be made to generate by any
page; and a page on a domain that resolves to 127.0.0.1 (DNS rebinding) reaches a loopback service
with its own Host header. So: a POST must say `application/json` (415 otherwise, which forces a
browser to ask first, and nothing here answers that); the Host header must name the address the
service listens on (a loopback name when it listens on loopback, or one of `serve.allowed_hosts`);
an `Origin` other than the service's own must be one of `serve.allowed_origins` (a front end
allowed on purpose). A client that sends no Origin (curl, httpx, the project's own) is not a page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def _hostname(host_header: str) -> str:
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def allowed_hosts(serve_cfg) -> frozenset[str] | None:
    """The Host names the service answers, or None (any) where it listens on every interface and
    no name is listed."""
    listed = {h.lower() for h in serve_cfg.allowed_hosts}
    if serve_cfg.host in WILDCARDS:
        return frozenset(listed) if listed else None
    own = {serve_cfg.host.lower().strip("[]")}
    return frozenset(own | listed | (LOOPBACK if own & LOOPBACK else set()))


def refusal(method: str, headers, serve_cfg) -> tuple[int, str] | None:
    """(status, why) for a request the service must not answer, else None."""
    hosts = allowed_hosts(serve_cfg)
    host = headers.get("host", "")
    if hosts is not None and _hostname(host) not in hosts:
        return 421, (f"Host {host!r} is not an address this service listens on ({', '.join(sorted(hosts))}); "
                     "add it to serve.allowed_hosts to serve it")
    origin = headers.get("origin")
    if origin is not None and origin not in serve_cfg.allowed_origins and urlsplit(origin).netloc != host:
        return 403, (f"Origin {origin!r} is another site: this service answers its own clients; add it to "
                     "serve.allowed_origins to allow a front end")
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if method == "POST" and media != "application/json":
        return 415, f"a POST body must be application/json, not {media or 'untyped'}"
    return None
