"""The fields of each connection type, as pydantic models: their JSON Schema is the form the UI
shows to create or edit a connection. Secret fields are ``SecretStr`` (JSON Schema
``writeOnly`` + ``format: password``): the UI renders them as password fields and never shows
them back. The fields are those the SDK's readers use (``arrow_pg``, ``mysql_arrow``,
``clickhouse_arrow``, ``mongo_arrow``, ``http``, ``s3``, ``storage``, ``iceberg``)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ecluse.sdk.config import connection_field, connection_kinds, fields_with_widget
from ecluse.sdk.connections import url_schemes
from ecluse.spec.problems import pointer


class _Fields(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Database(_Fields):
    url: str | None = Field(None, description="A URL with everything in it; or fill in the fields below.")
    host: str | None = Field(None, examples=["127.0.0.1"])
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    database: str | None = None


class PostgresConnection(_Database):
    model_config = ConfigDict(title="PostgreSQL")
    url: str | None = Field(None, description="postgresql://user:password@host:5432/database — "
                                               "or fill in the fields below.")


class MysqlConnection(_Database):
    model_config = ConfigDict(title="MySQL / MariaDB")
    url: str | None = Field(None, description="mysql://user:password@host:3306/database — "
                                               "or fill in the fields below.")


class ClickhouseConnection(_Database):
    model_config = ConfigDict(title="ClickHouse")
    url: str | None = Field(None, description="clickhouse://user:password@host:9000/database — "
                                               "or fill in the fields below.")


class MongodbConnection(_Fields):
    model_config = ConfigDict(title="MongoDB")
    url: str = Field(description="mongodb://user:password@host:27017/database")


def _when(kind: str) -> dict[str, Any]:
    """A field of one kind of authentication: forms show it only when that kind is chosen."""
    return {"x-show-when": {"type": [kind]}}


class HttpAuth(_Fields):
    type: Literal["none", "bearer", "basic", "api_key", "oauth2"] = "none"
    token: SecretStr | None = Field(None, description="bearer: the token.",
                                    json_schema_extra=_when("bearer"))
    username: str | None = Field(None, description="basic: the user name.",
                                 json_schema_extra=_when("basic"))
    password: SecretStr | None = Field(None, description="basic: the password.",
                                       json_schema_extra=_when("basic"))
    name: str | None = Field(None, description="api_key: the header or query parameter name "
                             "(X-API-Key by default).", json_schema_extra=_when("api_key"))
    value: SecretStr | None = Field(None, description="api_key: the key.",
                                    json_schema_extra=_when("api_key"))
    token_url: str | None = Field(None, description="oauth2 (client credentials): the token URL.",
                                  json_schema_extra=_when("oauth2"))
    client_id: str | None = Field(None, description="oauth2: the client id.",
                                  json_schema_extra=_when("oauth2"))
    client_secret: SecretStr | None = Field(None, description="oauth2: the client secret.",
                                            json_schema_extra=_when("oauth2"))
    scope: str | None = Field(None, description="oauth2: the scope, if the API needs one.",
                              json_schema_extra=_when("oauth2"))


class HttpConnection(_Fields):
    model_config = ConfigDict(title="HTTP API")
    base_url: str = Field(description="Requests' paths are relative to it.",
                          examples=["https://api.example.com/v1"])
    auth: HttpAuth = Field(default_factory=HttpAuth)
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request.")
    verify_tls: bool = True


class S3Connection(_Fields):
    model_config = ConfigDict(title="Amazon S3 (or compatible)")
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    region: str | None = Field(None, examples=["us-east-1"])
    endpoint_url: str | None = Field(None, description="For MinIO and other S3-compatible stores.")
    bucket: str | None = Field(None, description="Tested by the Test button when set.")


class GcsConnection(_Fields):
    model_config = ConfigDict(title="Google Cloud Storage")
    project: str | None = None
    service_account_json: SecretStr | None = Field(None, description="The key file's JSON.")
    token: SecretStr | None = Field(None, description="Instead of a key file (`anon` for an emulator).")
    endpoint_url: str | None = Field(None, description="An emulator's address.")


class AzureBlobConnection(_Fields):
    model_config = ConfigDict(title="Azure Blob Storage")
    connection_string: SecretStr | None = Field(None, description="Or the account fields below.")
    account_name: str | None = None
    account_key: SecretStr | None = None
    sas_token: SecretStr | None = None
    endpoint_url: str | None = Field(None, description="A blob endpoint such as Azurite's.")


class IcebergConnection(_Fields):
    model_config = ConfigDict(title="Apache Iceberg catalog")
    catalog: Literal["sql", "rest"] = "sql"
    uri: str | None = Field(None, description="The catalog's database URL (sql) or REST endpoint.")
    warehouse: str | None = Field(None, description="Where table files go (a folder or s3:// URL).")
    s3_connection: str | None = connection_field("An s3 connection for the warehouse.",
                                                 kinds=("s3",), default=None)
    catalog_name: str | None = None
    properties: dict[str, str] = Field(default_factory=dict,
                                       description="More pyiceberg catalog properties.")


CONNECTION_TYPES: dict[str, type[BaseModel]] = {
    "postgres": PostgresConnection,
    "mysql": MysqlConnection,
    "clickhouse": ClickhouseConnection,
    "mongodb": MongodbConnection,
    "http": HttpConnection,
    "s3": S3Connection,
    "gcs": GcsConnection,
    "azure_blob": AzureBlobConnection,
    "iceberg": IcebergConnection,
}


def connection_references(kind: str) -> dict[str, tuple[str, ...]]:
    """The fields of a ``kind`` connection that name another connection (declared with
    ``connection_field``), each with the connection types it accepts (empty: any)."""
    model = CONNECTION_TYPES.get(kind)
    if model is None:
        return {}
    return {name: connection_kinds(model, name) for name in fields_with_widget(model, "connection")}


def connection_type_schemas() -> list[dict[str, Any]]:
    """Each type with its title and the JSON Schema of its fields (secrets ``writeOnly``)."""
    out = []
    for kind, model in CONNECTION_TYPES.items():
        schema = model.model_json_schema()
        out.append({"type": kind, "title": str(schema.get("title", kind)), "json_schema": schema,
                    "secret_fields": secret_fields(kind)})
    return out


def secret_fields(kind: str) -> list[str]:
    """Dotted paths of a type's secret fields (none for a type this module does not describe)."""
    model = CONNECTION_TYPES.get(kind)
    if model is None:
        return []
    schema = model.model_json_schema()
    return sorted(_secret_paths(schema, schema.get("$defs", {})))


def _secret_paths(schema: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> list[str]:
    found: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        for option in [prop, *prop.get("anyOf", [])]:
            if "$ref" in option:
                found += _secret_paths(defs[option["$ref"].rsplit("/", 1)[-1]], defs, f"{prefix}{name}.")
            elif option.get("writeOnly"):
                found.append(prefix + name)
                break
    return found


# The database types whose ``url`` must use one of their own schemes.
URL_SCHEMES = {kind: url_schemes(kind) for kind in ("postgres", "mysql", "clickhouse", "mongodb")}
_WEB_URLS = {"http": ("base_url",), "s3": ("endpoint_url",), "gcs": ("endpoint_url",),
             "azure_blob": ("endpoint_url",)}


def _sentence(err: Any) -> str:
    kind, msg = err.get("type", ""), str(err.get("msg", "invalid"))
    if kind == "missing":
        return "Required."
    return msg[0].upper() + msg[1:] + ("" if msg.endswith(".") else ".")


def _url_problems(kind: str, fields: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    title = CONNECTION_TYPES[kind].model_config.get("title", kind)
    url = fields.get("url")
    if kind in URL_SCHEMES and isinstance(url, str) and url:
        schemes = URL_SCHEMES[kind]
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), parts.hostname
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError as exc:
            out.append({"pointer": "/url", "detail": f"Not a valid URL: {exc}."})
        else:
            if scheme not in schemes:
                got = f"{scheme}://" if scheme else "no scheme"
                out.append({"pointer": "/url", "detail": f"A {title} URL starts with "
                            f"{schemes[0]}:// ({got} given), e.g. {schemes[0]}://user:password@host/db."})
            elif not host:
                out.append({"pointer": "/url", "detail": "The URL has no host, e.g. "
                            f"{schemes[0]}://user:password@host/db."})
    for key in _WEB_URLS.get(kind, ()):
        value = fields.get(key)
        if isinstance(value, str) and value:
            try:
                parts = urlsplit(value)
                ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
            except ValueError:
                ok = False
            if not ok:
                out.append({"pointer": pointer(key), "detail": "An http:// or https:// address "
                            "with a host, e.g. https://api.example.com."})
    return out


def validate_fields(kind: str, fields: dict[str, Any]) -> list[dict[str, str]]:
    """Problems of a connection's fields against its type's schema, each with the JSON pointer
    of its field (``/port``, ``/auth/token``) and a sentence; none for a type not described here
    (``sqlite``, ``redis``... from a URL)."""
    model = CONNECTION_TYPES.get(kind)
    if model is None:
        return []
    problems: list[dict[str, str]] = []
    try:
        model.model_validate(fields)
    except ValidationError as exc:
        problems += [{"pointer": pointer(*err["loc"]), "detail": _sentence(err)}
                     for err in exc.errors(include_url=False)]
    seen = {p["pointer"] for p in problems}
    problems += [p for p in _url_problems(kind, fields) if p["pointer"] not in seen]
    return problems
