"""REST extractor against a real local HTTP server (stdlib, 127.0.0.1): every pagination and
auth style, 429 with Retry-After, 500s then success, malformed JSON."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest

from ecluse.sdk.connections import Connection
from ecluse.sdk.http import HttpError, HttpSession, RateLimiter, RetryPolicy, retry_after_seconds
from tests.helpers import chain, node, preview, run_doc, schemas

pytestmark = pytest.mark.integration

Reply = tuple[int, dict[str, str], bytes | str | Any]
Route = Callable[[dict[str, str], dict[str, str], bytes], Reply]


class Api:
    """A tiny JSON API: routes are functions of (query, headers, body); requests are logged."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.log: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                api.log.append((method, parts.path, query, headers))
                route = api.routes.get((method, parts.path))
                status, extra, payload = (404, {}, {"error": "no route"}) if route is None else \
                    route(query, headers, body)
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            self.routes[(method, path)] = fn
            return fn
        return register

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.log if p == path)


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.server.shutdown()
    server.server.server_close()


def connect(monkeypatch: pytest.MonkeyPatch, api: Api, auth: dict[str, Any] | None = None,
            name: str = "SHOP_API") -> None:
    conn = {"type": "http", "base_url": api.url + "/v1"}
    if auth:
        conn["auth"] = auth
    monkeypatch.setenv(f"ECLUSE_CONN_{name}", json.dumps(conn))


ORDERS = [{"id": i, "customer": {"email": f"c{i}@x.io", "address": {"city": "Lyon"}},
           "tags": ["a", f"t{i}"], "amount": i * 1.5} for i in range(1, 24)]


def load(workdir: Path, **config: Any) -> list[dict[str, Any]]:
    doc = chain(node("e", "extractor", "rest", **config), node("l", "loader", "parquet", path="o.parquet"))
    result = run_doc(doc)
    assert result.status == "succeeded", result.error
    return pq.read_table(workdir / "o.parquet").to_pylist()


def test_cursor_pagination_bearer_auth_and_flattening(api: Api, workdir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    @api.route("GET", "/v1/orders")
    def orders(q: dict[str, str], h: dict[str, str], _: bytes) -> Reply:
        if h.get("authorization") != "Bearer s3cret":
            return 401, {}, {"error": "unauthorized"}
        start = int(q.get("cursor", "0"))
        page = ORDERS[start:start + 10]
        nxt = str(start + 10) if start + 10 < len(ORDERS) else None
        return 200, {}, {"data": {"items": page}, "next_cursor": nxt}

    connect(monkeypatch, api, {"type": "bearer", "token": "s3cret"})
    rows = load(workdir, connection="shop-api", url="/orders", records_path="data.items",
                pagination={"type": "cursor", "cursor_path": "next_cursor", "param": "cursor"})
    assert [r["id"] for r in rows] == list(range(1, 24))
    assert rows[0]["customer_email"] == "c1@x.io"
    assert rows[0]["customer_address_city"] == "Lyon"
    assert rows[0]["tags"] == ["a", "t1"]
    assert api.hits("/v1/orders") == 3
    # the token never shows in the document, only in the connection
    assert all(h.get("authorization") == "Bearer s3cret" for _, _, _, h in api.log)


def test_page_pagination_with_basic_auth(api: Api, workdir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "Basic " + base64.b64encode(b"ann:pw:x").decode()

    @api.route("GET", "/v1/items")
    def items(q: dict[str, str], h: dict[str, str], _: bytes) -> Reply:
        if h.get("authorization") != expected:
            return 401, {}, {}
        page, size = int(q["page"]), int(q["per_page"])
        return 200, {}, ORDERS[(page - 1) * size: page * size]

    connect(monkeypatch, api, {"type": "basic", "username": "ann", "password": "pw:x"})
    rows = load(workdir, connection="shop-api", url="items",
                pagination={"type": "page", "param": "page", "size_param": "per_page", "size": 5})
    assert len(rows) == 23
    assert api.hits("/v1/items") == 5  # the fifth page is short: the last one


def test_offset_pagination_with_api_key_in_query(api: Api, workdir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    @api.route("GET", "/v1/rows")
    def rows_(q: dict[str, str], _: dict[str, str], __: bytes) -> Reply:
        if q.get("api_key") != "k1":
            return 403, {}, {}
        off, lim = int(q["offset"]), int(q["limit"])
        return 200, {}, {"results": ORDERS[off:off + lim]}

    connect(monkeypatch, api, {"type": "api_key", "name": "api_key", "value": "k1", "in": "query"})
    rows = load(workdir, connection="shop-api", url="/rows", records_path="results",
                pagination={"type": "offset", "limit": 10}, params={"status": "open"})
    assert len(rows) == 23
    assert all(q["status"] == "open" for _, _, q, _ in api.log)


def test_link_header_pagination_with_api_key_header(api: Api, workdir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    @api.route("GET", "/v1/links")
    def links(q: dict[str, str], h: dict[str, str], _: bytes) -> Reply:
        if h.get("x-api-key") != "k2":
            return 403, {}, {}
        page = int(q.get("p", "0"))
        headers = {"Link": f'<{api.url}/v1/links?p={page + 1}>; rel="next"'} if page < 2 else {}
        return 200, headers, ORDERS[page * 10:(page + 1) * 10]

    connect(monkeypatch, api, {"type": "api_key", "name": "X-API-Key", "value": "k2"})
    assert len(load(workdir, connection="shop-api", url="/links", pagination={"type": "link"})) == 23


def test_next_url_pagination_with_oauth2_client_credentials(api: Api, workdir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    issued: list[str] = []

    @api.route("POST", "/oauth/token")
    def token(_: dict[str, str], h: dict[str, str], body: bytes) -> Reply:
        form = parse_qs(body.decode())
        creds = base64.b64decode(h["authorization"].split()[1]).decode()
        if form["grant_type"] != ["client_credentials"] or creds != "cid:csecret":
            return 401, {}, {"error": "invalid_client"}
        issued.append("tok")
        return 200, {}, {"access_token": "tok", "token_type": "bearer", "expires_in": 3600}

    @api.route("GET", "/v1/pages")
    def pages(q: dict[str, str], h: dict[str, str], _: bytes) -> Reply:
        if h.get("authorization") != "Bearer tok":
            return 401, {}, {}
        page = int(q.get("n", "0"))
        nxt = f"/v1/pages?n={page + 1}" if page < 2 else None
        return 200, {}, {"items": ORDERS[page * 10:(page + 1) * 10], "links": {"next": nxt}}

    connect(monkeypatch, api, {"type": "oauth2", "token_url": api.url + "/oauth/token",
                               "client_id": "cid", "client_secret": "csecret", "scope": "read"})
    rows = load(workdir, connection="shop-api", url="/pages", records_path="items",
                pagination={"type": "next_url", "next_url_path": "links.next"})
    assert len(rows) == 23
    assert issued == ["tok"]  # one token for every page


def test_429_with_retry_after_then_success(api: Api, workdir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}

    @api.route("GET", "/v1/busy")
    def busy(*_: Any) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "1"}, {"error": "slow down"}
        return 200, {}, [{"id": 1}]

    connect(monkeypatch, api)
    assert load(workdir, connection="shop-api", url="/busy") == [{"id": 1}]
    assert calls["n"] == 2
    # the wait asked for by Retry-After is the one used (checked with a recording sleep)
    calls["n"] = 0
    waits: list[float] = []
    with HttpSession(Connection("c", "http", {"base_url": api.url}), sleep=waits.append) as s:
        assert s.request("GET", s.resolve("/v1/busy")).json() == [{"id": 1}]
    assert waits == [1.0]


def test_500s_then_success_with_backoff(api: Api, workdir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}

    @api.route("GET", "/v1/flaky")
    def flaky(*_: Any) -> Reply:
        calls["n"] += 1
        return (503, {}, {"error": "down"}) if calls["n"] <= 3 else (200, {}, {"data": [{"id": 7}]})

    connect(monkeypatch, api)
    assert load(workdir, connection="shop-api", url="/flaky", records_path="data",
                retry_backoff=0.01) == [{"id": 7}]
    assert calls["n"] == 4
    # exponential backoff with full jitter: each wait is within base * 2^attempt
    calls["n"] = 0
    waits: list[float] = []
    with HttpSession(None, retry=RetryPolicy(retries=5, backoff=0.5), sleep=waits.append) as s:
        s.request("GET", api.url + "/v1/flaky")
    assert len(waits) == 3
    assert all(0 <= w <= 0.5 * 2 ** i for i, w in enumerate(waits))


def test_retries_exhausted_is_a_clear_error(api: Api, workdir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    api.routes[("GET", "/v1/down")] = lambda *_: (500, {}, {"error": "boom"})
    connect(monkeypatch, api)
    doc = chain(node("e", "extractor", "rest", connection="shop-api", url="/down", retries=2,
                     retry_backoff=0.0),
                node("l", "loader", "parquet", path="o.parquet"))
    result = run_doc(doc)
    assert result.status == "failed"
    assert "page 1" in result.error.reason and "HTTP 500" in result.error.reason
    assert api.hits("/v1/down") == 3


def test_malformed_json_names_the_page(api: Api, workdir: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    @api.route("GET", "/v1/bad")
    def bad(q: dict[str, str], *_: Any) -> Reply:
        page = int(q.get("page", "1"))
        if page == 3:
            return 200, {}, '{"items": [{"id": 1}, '
        return 200, {}, {"items": [{"id": page}]}

    connect(monkeypatch, api)
    doc = chain(node("e", "extractor", "rest", connection="shop-api", url="/bad", records_path="items",
                     pagination={"type": "page"}),
                node("l", "loader", "parquet", path="o.parquet"))
    result = run_doc(doc)
    assert result.status == "failed"
    assert "page 3" in result.error.reason
    assert "not valid JSON" in result.error.reason
    assert not (workdir / "o.parquet").exists()


def test_post_body_given_schema_max_pages_and_rate_limit(api: Api, workdir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    bodies: list[Any] = []

    @api.route("POST", "/v1/search")
    def search(q: dict[str, str], _: dict[str, str], body: bytes) -> Reply:
        bodies.append(json.loads(body))
        page = int(q["page"])
        return 200, {}, {"hits": [{"id": page, "score": "1.5", "extra": True}]}

    connect(monkeypatch, api)
    config = {"connection": "shop-api", "url": "/search", "method": "POST",
              "body": {"query": "lamp"}, "records_path": "hits", "max_pages": 4,
              "rate_limit": 50, "pagination": {"type": "page"},
              "columns": {"id": "int64", "score": "string"}}
    assert load(workdir, **config) == [{"id": i, "score": "1.5"} for i in range(1, 5)]
    assert bodies == [{"query": "lamp"}] * 4
    doc = chain(node("e", "extractor", "rest", **config), node("l", "loader", "parquet", path="p.parquet"))
    assert schemas(doc)["e"] == [("id", "int64"), ("score", "string")]


def test_schema_inferred_and_preview_reads_little(api: Api, workdir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    @api.route("GET", "/v1/orders")
    def orders(q: dict[str, str], *_: Any) -> Reply:
        start = int(q.get("cursor", "0"))
        nxt = str(start + 10) if start + 10 < len(ORDERS) else None
        return 200, {}, {"data": {"items": ORDERS[start:start + 10]}, "next_cursor": nxt}

    connect(monkeypatch, api)
    doc = chain(node("e", "extractor", "rest", connection="shop-api", url="/orders",
                     records_path="data.items", pagination={"type": "cursor"}),
                node("l", "loader", "parquet", path="o.parquet"))
    cols = dict(schemas(doc)["e"] or [])
    assert cols["id"] == "int64" and cols["amount"] == "float64"
    assert cols["customer_email"] == "string" and cols["tags"] == "array<string>"
    api.log.clear()
    assert preview(doc, "e", limit=3, sample_rows=5).num_rows == 3
    assert api.hits("/v1/orders") == 1  # the sample fits in the first page: no more requests


def test_retry_after_as_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("soon") is None


def test_relative_url_without_base_url_is_a_config_error() -> None:
    with HttpSession(None) as s, pytest.raises(HttpError.__mro__[1], match="relative"):
        s.resolve("/orders")


def test_rate_limiter_spaces_requests() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert waits == [0.25, 0.25]  # 4 requests per second: one every 250 ms
    now[0] += 10
    limiter.wait()
    assert waits == [0.25, 0.25]  # after a pause, no wait


def test_oauth2_token_failure_is_reported(api: Api, monkeypatch: pytest.MonkeyPatch,
                                          workdir: Path) -> None:
    api.routes[("POST", "/oauth/token")] = lambda *_: (401, {}, {"error": "invalid_client"})
    connect(monkeypatch, api, {"type": "oauth2", "token_url": api.url + "/oauth/token",
                               "client_id": "cid", "client_secret": "wrong", "client_auth": "post"})
    doc = chain(node("e", "extractor", "rest", connection="shop-api", url="/x"),
                node("l", "loader", "parquet", path="o.parquet"))
    result = run_doc(doc)
    assert result.status == "failed"
    assert "OAuth2 token request failed with HTTP 401" in result.error.reason
    assert "wrong" not in result.error.reason
