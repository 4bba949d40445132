"""Extractor ``rest``: JSON records from an HTTP API, page after page, streamed as Arrow.

Auth, base URL and secrets come from the connection; pagination, rate limit and retries
from the node. Nested objects are flattened (``customer.email`` -> ``customer_email``),
lists stay lists. The schema is inferred from the first page, or given in ``columns``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

import ibis.expr.types as ir
from pydantic import Field

from ecluse.sdk import ConfigError, Extractor, ModuleConfig, NodeContext, TypeName, connection_field
from ecluse.sdk.http import HttpSession, RetryPolicy, get_path

Pages = Generator[list[dict[str, Any]], None, None]


class NoPagination(ModuleConfig):
    type: Literal["none"] = "none"


class PagePagination(ModuleConfig):
    type: Literal["page"]
    param: str = Field("page", description="Query parameter holding the page number.")
    start: int = Field(1, description="Number of the first page.")
    size_param: str | None = Field(None, description="Query parameter for the page size.")
    size: int | None = Field(None, ge=1, description="Records per page (sent in `size_param`); "
                             "a shorter page is the last one.")


class OffsetPagination(ModuleConfig):
    type: Literal["offset"]
    offset_param: str = Field("offset", description="Query parameter holding the offset.")
    limit_param: str = Field("limit", description="Query parameter holding the page size.")
    limit: int = Field(100, ge=1, description="Records per page; a shorter page is the last one.")
    start: int = Field(0, ge=0, description="First offset.")


class CursorPagination(ModuleConfig):
    type: Literal["cursor"]
    cursor_path: str = Field("next_cursor", description="Path in the response body of the next "
                             "cursor (e.g. `meta.next_cursor`); empty or missing ends the reading.")
    param: str = Field("cursor", description="Query parameter that sends the cursor back.")


class LinkPagination(ModuleConfig):
    type: Literal["link"]


class NextUrlPagination(ModuleConfig):
    type: Literal["next_url"]
    next_url_path: str = Field("next", description="Path in the response body of the next page's "
                               "URL (e.g. `links.next`); empty or missing ends the reading.")


Pagination = Annotated[NoPagination | PagePagination | OffsetPagination | CursorPagination
                       | LinkPagination | NextUrlPagination, Field(discriminator="type")]


class RestConfig(ModuleConfig):
    connection: str | None = connection_field(
        "HTTP connection: base URL and auth (bearer, basic, api_key, oauth2).", kinds=("http",),
        default=None)
    url: str = Field(description="Endpoint: absolute, or relative to the connection's base_url.",
                     examples=["/orders"])
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers "
                                    "(no secrets here: they belong in the connection).")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                        description="Query string parameters.")
    body: dict[str, Any] | list[Any] | None = Field(None, description="JSON body (POST).")
    records_path: str | None = Field(None, description="Path to the list of records in the "
                                     "response, e.g. `data.items`; empty when the response is the list.")
    pagination: Pagination = Field(default_factory=NoPagination,
                                   description="How to get the next page.")
    max_pages: int | None = Field(None, ge=1, description="Stop after this many pages.")
    rate_limit: float | None = Field(None, gt=0, description="At most this many requests per second.")
    retries: int = Field(5, ge=0, le=20, description="Retries on 429, 5xx and network errors "
                         "(exponential backoff with jitter; Retry-After is honoured).")
    retry_backoff: float = Field(0.5, ge=0, description="First backoff in seconds (doubles each time).")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for each response.")
    flatten: bool = Field(True, description="Flatten nested objects with `_` "
                          "(`customer.email` -> `customer_email`); lists stay lists.")
    columns: dict[str, TypeName] = Field(
        default_factory=dict, description="The schema (column -> type); when empty it is inferred "
        "from the first page.")
    batch_rows: int = Field(10_000, ge=1, description="Records gathered per Arrow batch.")


class RestExtractor(Extractor):
    name = "rest"
    title = "REST API"
    description = "Read JSON records from an HTTP API, with pagination, auth, rate limit and retries."
    category = "APIs"
    icon = "cloud_download"
    Config = RestConfig
    config: RestConfig
    examples: ClassVar = ({"connection": "shop-api", "url": "/orders", "records_path": "data.items",
                           "pagination": {"type": "cursor", "cursor_path": "next_cursor",
                                          "param": "cursor"}},)

    def read(self, ctx: NodeContext) -> ir.Table:
        import pyarrow as pa

        c = self.config
        connection = ctx.connection(c.connection) if c.connection else None
        if connection is not None and connection.type != "http":
            raise ConfigError(f"connection {c.connection!r} is of type {connection.type!r}, not http",
                              field="connection")
        session = HttpSession(connection, timeout=c.timeout, rate_limit=c.rate_limit,
                              headers=c.headers,
                              retry=RetryPolicy(retries=c.retries, backoff=c.retry_backoff))
        pages = self._pages(session, ctx)
        try:
            first = next(pages, [])
            schema = self._schema(first)
        except BaseException:
            pages.close()
            session.close()
            raise
        if ctx.mode == "schema":
            pages.close()
            session.close()
            return ctx.backend.from_arrow(schema.empty_table(), name="rest")
        reader = pa.RecordBatchReader.from_batches(schema, self._batches(first, pages, schema,
                                                                         session, ctx))
        return ctx.backend.from_arrow(reader, name="rest")

    # -- schema and batches ----------------------------------------------------------------
    def _schema(self, sample: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        from ecluse.sdk.types import to_ibis_type

        if self.config.columns:
            return pa.schema([pa.field(name, to_ibis_type(t).to_pyarrow())
                              for name, t in self.config.columns.items()])
        if not sample:
            raise ConfigError("the first page has no records, so no schema can be inferred; "
                              "give `columns`", field="columns")
        try:
            inferred = pa.Table.from_pylist(sample).schema
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ConfigError(f"page 1: the records do not fit one table ({exc}); give `columns`",
                              field="columns") from exc
        return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                          for f in inferred])

    def _batches(self, first: list[dict[str, Any]], pages: Pages,
                 schema: Any, session: HttpSession, ctx: NodeContext) -> Iterator[Any]:
        import pyarrow as pa

        c = self.config
        limit = ctx.sample_rows if ctx.mode == "preview" else None
        pending: list[dict[str, Any]] = list(first)
        rows = 0
        page_no = 1
        unknown: set[str] = set()

        def flush(records: list[dict[str, Any]], page: int) -> Any:
            unknown.update(k for r in records for k in r if k not in schema.names)
            try:
                return pa.RecordBatch.from_pylist(records, schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ConfigError(f"page {page}: a record does not match the schema ({exc})",
                                  field="columns") from exc

        try:
            if limit is not None and len(pending) >= limit:
                pending = pending[:limit]
            for page in ([] if limit is not None and len(pending) >= limit else pages):
                page_no += 1
                pending.extend(page)
                if limit is not None and len(pending) >= limit:
                    pending = pending[:limit]
                    break
                if len(pending) >= c.batch_rows:
                    batch = flush(pending, page_no)
                    rows += batch.num_rows
                    ctx.progress(rows)
                    pending = []
                    yield batch
            if pending:
                batch = flush(pending, page_no)
                rows += batch.num_rows
                ctx.progress(rows)
                yield batch
        finally:
            pages.close()
            ctx.metrics["pages"] = page_no
            ctx.metrics["requests"] = session.requests
            ctx.metrics["retries"] = session.retried
            session.close()
        if unknown:
            ctx.log(f"fields absent from the first page were ignored: {', '.join(sorted(unknown))}",
                    level="warning")

    # -- pages -----------------------------------------------------------------------------
    def _pages(self, session: HttpSession, ctx: NodeContext) -> Pages:
        c = self.config
        p = c.pagination
        url: str | None = session.resolve(c.url)
        params: dict[str, Any] = {k: _param(v) for k, v in c.params.items()}
        if isinstance(p, PagePagination):
            params[p.param] = p.start
            if p.size_param and p.size:
                params[p.size_param] = p.size
        elif isinstance(p, OffsetPagination):
            params[p.offset_param], params[p.limit_param] = p.start, p.limit
        page = 0
        seen_cursors: set[str] = set()
        while url is not None:
            ctx.cancel.raise_if_cancelled()
            page += 1
            what = f"page {page}"
            response = session.request(c.method, url, params=params, json=c.body, what=what)
            try:
                data = json.loads(response.content)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                detail = (f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
                          if isinstance(exc, json.JSONDecodeError) else str(exc))
                raise ConfigError(f"{what} ({c.method} {response.request.url.copy_with(query=None)}): "
                                  f"the response is not valid JSON: {detail}", field="url") from exc
            records = self._records(data, what)
            yield records
            if c.max_pages is not None and page >= c.max_pages:
                return
            url, params = self._next(p, data, response, url, params, records, seen_cursors)

    def _records(self, data: Any, what: str) -> list[dict[str, Any]]:
        path = self.config.records_path
        found = get_path(data, path)
        if found is None:
            if path and isinstance(data, Mapping):
                raise ConfigError(f"{what}: the response has no {path!r}; its keys are: "
                                  f"{', '.join(map(str, data))}", field="records_path")
            found = []
        if isinstance(found, Mapping):
            found = [found]
        if not isinstance(found, list):
            raise ConfigError(f"{what}: {path or 'the response'} is a {type(found).__name__}, "
                              "not a list of records", field="records_path")
        sep = "_" if self.config.flatten else None
        out = []
        for item in found:
            record = item if isinstance(item, Mapping) else {"value": item}
            out.append(_flatten(record, sep) if sep else dict(record))
        return out

    @staticmethod
    def _next(p: Any, data: Any, response: Any, url: str, params: dict[str, Any],
              records: list[dict[str, Any]], seen: set[str]) -> tuple[str | None, dict[str, Any]]:
        if isinstance(p, NoPagination):
            return None, params
        if isinstance(p, PagePagination):
            if not records or (p.size and len(records) < p.size):
                return None, params
            return url, {**params, p.param: int(params[p.param]) + 1}
        if isinstance(p, OffsetPagination):
            if len(records) < p.limit:
                return None, params
            return url, {**params, p.offset_param: int(params[p.offset_param]) + len(records)}
        if isinstance(p, CursorPagination):
            cursor = get_path(data, p.cursor_path)
            if cursor in (None, "") or str(cursor) in seen or not records:
                return None, params
            seen.add(str(cursor))
            return url, {**params, p.param: cursor}
        if isinstance(p, LinkPagination):
            nxt = response.links.get("next", {}).get("url")
            if not nxt or nxt in seen:
                return None, params
            seen.add(nxt)
            return str(response.url.join(nxt)), {}
        nxt = get_path(data, p.next_url_path)
        if not nxt or str(nxt) in seen:
            return None, params
        seen.add(str(nxt))
        return str(response.url.join(str(nxt))), {}


def _param(value: str | int | float | bool) -> str | int | float:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _flatten(record: Mapping[str, Any], sep: str, prefix: str = "",
             out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            if value:
                _flatten(value, sep, name, out)
            else:
                out[name] = None
        else:
            out[name] = value
    return out
