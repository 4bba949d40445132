"""Validate a pipeline document completely, reporting every problem at once.

Works on the raw JSON so that one broken part never hides the problems of the others.
Each problem carries a JSON pointer, the node or edge concerned, and a plain sentence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import ValidationError

from ecluse.sdk.backend import ENGINES
from ecluse.sdk.config import connection_kinds, fields_with_widget
from ecluse.sdk.connections import Connection, ConnectionResolver
from ecluse.sdk.module import Module
from ecluse.sdk.registry import Registry
from ecluse.sdk.sqltext import query_parameters
from ecluse.sdk.suggest import did_you_mean
from ecluse.spec.document import Parameter, Pipeline, coerce_parameter
from ecluse.spec.problems import Problem, pointer

RESERVED_PARAMETERS = frozenset({"last_value"})
"""Bound by the engine itself (incremental extractors)."""

_KIND_WORDS = {"extractor": "an extractor", "transformer": "a transformer", "loader": "a loader"}


class DocumentInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("; ".join(f"{p.pointer}: {p.message}" for p in errors[:5]))
        self.problems = problems


@dataclass
class _RawNode:
    index: int
    id: str
    kind: str
    module_name: str
    config: Any
    module: type[Module] | None = None


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    return did_you_mean(name, candidates)


def _describe_pydantic_error(err: Mapping[str, Any], fields: Iterable[str]) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) if loc else "config"
    kind = err["type"]
    if kind == "missing":
        return where, f"the setting {where!r} is required."
    if kind == "extra_forbidden":
        return where, f"{where!r} is not a setting of this module.{_did_you_mean(loc[-1], fields)}"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return where, f"setting {where!r}: {msg[0].lower() + msg[1:] if msg else msg}."


def validate_document(raw: Any, registry: Registry, *,
                      connections: ConnectionResolver | None = None,
                      engine: str | None = None) -> list[Problem]:
    if not isinstance(raw, Mapping):
        return [Problem("", "The pipeline must be a JSON object with 'name', 'nodes' and 'edges'.",
                        "not_an_object")]
    problems: list[Problem] = []
    problems += _structure(raw)
    nodes = _nodes(raw, registry, problems)
    params = _parameters(raw, problems)
    if engine is not None and engine not in ENGINES:
        problems.append(Problem("", f"Unknown engine {engine!r}: engines are "
                                f"{', '.join(ENGINES)}.{did_you_mean(engine, ENGINES)}",
                                "unknown_engine"))
    problems += _modules(nodes, registry, raw.get("engine") if engine is None else engine,
                         params, connections)
    problems += _graph(raw, nodes)
    problems += _schedule(raw)
    return problems


def parse_pipeline(raw: Any, registry: Registry, *, connections: ConnectionResolver | None = None,
                   engine: str | None = None) -> Pipeline:
    """The validated document; raises :class:`DocumentInvalid` with every problem."""
    problems = validate_document(raw, registry, connections=connections, engine=engine)
    if any(p.severity == "error" for p in problems):
        raise DocumentInvalid(problems)
    return Pipeline.model_validate(raw)


def _structure(raw: Mapping[str, Any]) -> list[Problem]:
    try:
        Pipeline.model_validate(raw)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            loc = list(err["loc"])
            node_id = None
            if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
                nodes = raw.get("nodes")
                if isinstance(nodes, list) and loc[1] < len(nodes) and isinstance(nodes[loc[1]], dict):
                    node_id = nodes[loc[1]].get("id") if isinstance(nodes[loc[1]].get("id"), str) else None
            if len(loc) >= 3 and loc[0] == "nodes" and loc[2] == "config":
                continue  # reported against the module's own schema
            if loc[:1] == ["parameters"] and len(loc) > 2:
                continue  # reported by _parameters with a better sentence
            where = ".".join(str(p) for p in loc) or "document"
            if err["type"] == "missing":
                message = f"{where!r} is required."
            elif err["type"] == "extra_forbidden":
                message = f"{str(loc[-1])!r} is not a known key here." + _did_you_mean(
                    str(loc[-1]), _known_keys(loc))
            else:
                message = f"{where!r}: {err['msg']}."
            out.append(Problem(pointer(*loc), message, f"structure.{err['type']}", node_id=node_id))
        return out
    return []


def _known_keys(loc: list[Any]) -> list[str]:
    from ecluse.spec.document import Edge, Node  # local: only for suggestions

    if loc[:1] == ["nodes"]:
        return list(Node.model_fields)
    if loc[:1] == ["edges"]:
        return list(Edge.model_fields)
    return list(Pipeline.model_fields)


def _nodes(raw: Mapping[str, Any], registry: Registry, problems: list[Problem]) -> list[_RawNode]:
    items = raw.get("nodes")
    if not isinstance(items, list):
        return []
    seen: dict[str, int] = {}
    nodes = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        node_id, kind, module_name = item.get("id"), item.get("type"), item.get("module")
        if not isinstance(node_id, str) or not node_id:
            continue
        if node_id in seen:
            problems.append(Problem(pointer("nodes", i, "id"),
                                    f"Two nodes have the id {node_id!r} (nodes {seen[node_id]} and "
                                    f"{i}); every node needs its own id.",
                                    "duplicate_node_id", node_id=node_id))
            continue
        seen[node_id] = i
        node = _RawNode(i, node_id, str(kind), str(module_name), item.get("config", {}))
        if isinstance(kind, str) and isinstance(module_name, str):
            node.module = registry.get(kind, module_name)
            if node.module is None and kind in _KIND_WORDS:
                problems.append(_unknown_module(node, registry))
        nodes.append(node)
    return nodes


def _unknown_module(node: _RawNode, registry: Registry) -> Problem:
    other_kinds = registry.kinds_of(node.module_name)
    if other_kinds:
        message = (f"Node {node.id!r}: {node.module_name!r} is {_KIND_WORDS[other_kinds[0]]}, "
                   f"not {_KIND_WORDS[node.kind]}; change the node's type or module.")
    else:
        suggestion = registry.suggest(node.kind, node.module_name)
        hint = f" Did you mean {suggestion!r}?" if suggestion else ""
        message = (f"Node {node.id!r} uses the module {node.module_name!r}, which is not "
                   f"{_KIND_WORDS[node.kind]} known to this installation.{hint}")
    return Problem(pointer("nodes", node.index, "module"), message, "unknown_module", node_id=node.id)


def _parameters(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, Parameter]:
    params: dict[str, Parameter] = {}
    items = raw.get("parameters")
    if not isinstance(items, Mapping):
        return params
    for name, spec in items.items():
        try:
            param = Parameter.model_validate(spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            problems.append(Problem(pointer("parameters", name, *err["loc"]),
                                    f"Parameter {name!r}: {where or 'definition'} - {err['msg']}.",
                                    "parameter_invalid"))
            continue
        params[name] = param
        try:
            coerce_parameter(name, param, param.default)
        except ValueError as exc:
            problems.append(Problem(pointer("parameters", name, "default"),
                                    f"The default of parameter {name!r} is not a valid "
                                    f"{param.type.value}: {exc}", "parameter_default"))
    return params


def _modules(nodes: list[_RawNode], registry: Registry, engine: Any, params: dict[str, Parameter],
             connections: ConnectionResolver | None) -> list[Problem]:
    problems = []
    engine_name = engine if isinstance(engine, str) else "duckdb"
    for node in nodes:
        module = node.module
        if module is None:
            continue
        base = ("nodes", node.index, "config")
        if not isinstance(node.config, Mapping):
            problems.append(Problem(pointer(*base), f"Node {node.id!r}: 'config' must be an object.",
                                    "config_not_object", node_id=node.id))
            continue
        if engine_name in ENGINES and engine_name not in module.engines:  # else said once
            problems.append(Problem(pointer("nodes", node.index, "module"),
                                    f"Node {node.id!r}: the {module.name!r} {module.kind} does not run "
                                    f"on the {engine_name} engine (it supports "
                                    f"{', '.join(sorted(module.engines))}).",
                                    "engine_unsupported", node_id=node.id))
        try:
            config = module.parse_config(node.config)
        except ValidationError as exc:
            fields = module.Config.model_fields.keys()
            for err in exc.errors():
                _, message = _describe_pydantic_error(err, fields)
                problems.append(Problem(pointer(*base, *err["loc"]),
                                        f"Node {node.id!r} ({module.name}): {message}",
                                        "config_invalid", node_id=node.id,
                                        field=str(err["loc"][0]) if err["loc"] else None))
            continue
        data = config.model_dump(by_alias=True)
        for field_name in fields_with_widget(module.Config, "sql"):
            sql = data.get(field_name)
            if not isinstance(sql, str):
                continue
            for name in query_parameters(sql):
                if name in params or name in RESERVED_PARAMETERS:
                    continue
                problems.append(Problem(pointer(*base, field_name),
                                        f"Node {node.id!r}: the query uses the parameter :{name}, "
                                        f"which the pipeline does not define."
                                        + _did_you_mean(name, params),
                                        "unknown_parameter", node_id=node.id, field=field_name))
        if connections is None:
            continue
        for field_name in fields_with_widget(module.Config, "connection"):
            value = data.get(field_name)
            if isinstance(value, str):
                problems += _connection(node, module, field_name, value, connections)
    return problems


def _connection(node: _RawNode, module: type[Module], field_name: str, name: str,
                connections: ConnectionResolver) -> list[Problem]:
    where = pointer("nodes", node.index, "config", field_name)
    try:
        found = connections.get(name)
    except ValueError as exc:  # an ECLUSE_CONN_* variable that does not parse
        return [Problem(where, f"Node {node.id!r}: {exc}.", "invalid_connection",
                        node_id=node.id, field=field_name)]
    if found is None:
        return [Problem(where, f"Node {node.id!r}: no connection named {name!r} exists."
                        + _did_you_mean(name, connections.names()),
                        "unknown_connection", node_id=node.id, field=field_name)]
    kinds = connection_kinds(module.Config, field_name)
    if not kinds or found.type in kinds:
        return _references(node, field_name, found, connections, seen=(name,))
    return [Problem(where, f"Node {node.id!r}: the connection {name!r} is {_a(found.type)} "
                    f"{found.type} connection; the {module.name} module needs {_kinds(kinds)} "
                    "connection.", "wrong_connection_type", node_id=node.id, field=field_name)]


def _references(node: _RawNode, field_name: str, found: Connection,
                connections: ConnectionResolver, *, seen: tuple[str, ...]) -> list[Problem]:
    """The connections that ``found`` names in its own fields (an iceberg connection's
    ``s3_connection``), checked like the node's: reported on the node's field."""
    # imported here: sdk.connection_types imports spec.problems, whose package imports this
    from ecluse.sdk.connection_types import connection_references

    where = pointer("nodes", node.index, "config", field_name)
    problems: list[Problem] = []
    for key, kinds in connection_references(found.type).items():
        name = found.get(key)
        if not isinstance(name, str) or not name:
            continue
        said = f"Node {node.id!r}: the connection {found.name!r} names {key!r} {name!r}"
        try:
            target = connections.get(name)
        except ValueError as exc:
            problems.append(Problem(where, f"{said}: {exc}.", "invalid_connection",
                                    node_id=node.id, field=field_name))
            continue
        if target is None:
            problems.append(Problem(where, f"{said}, which does not exist."
                                    + _did_you_mean(name, connections.names()),
                                    "unknown_connection", node_id=node.id, field=field_name))
        elif kinds and target.type not in kinds:
            problems.append(Problem(where, f"{said}, which is {_a(target.type)} {target.type} "
                                    f"connection; it must be {_kinds(kinds)} connection.",
                                    "wrong_connection_type", node_id=node.id, field=field_name))
        elif name not in seen:
            problems += _references(node, field_name, target, connections, seen=(*seen, name))
    return problems


def _kinds(kinds: tuple[str, ...]) -> str:
    """'an s3', 'a mysql or postgres'."""
    return f"{_a(kinds[0])} " + " or ".join(", ".join(kinds).rsplit(", ", 1))


def _a(kind: str) -> str:
    """The article before a connection type: 'an s3', 'a mysql'."""
    return "an" if kind.startswith(tuple("aeiou")) or kind in ("http", "s3") else "a"


def _graph(raw: Mapping[str, Any], nodes: list[_RawNode]) -> list[Problem]:
    problems: list[Problem] = []
    by_id = {n.id: n for n in nodes}
    incoming: dict[tuple[str, str], list[int]] = defaultdict(list)
    outgoing: dict[str, list[int]] = defaultdict(list)
    graph: dict[str, set[str]] = {n.id: set() for n in nodes}
    seen_edges: dict[tuple[Any, ...], int] = {}
    edges = raw.get("edges")
    for i, edge in enumerate(edges if isinstance(edges, list) else []):
        if not isinstance(edge, Mapping):
            continue
        src, dst = edge.get("source"), edge.get("target")
        if not isinstance(src, str) or not isinstance(dst, str):
            continue
        label = f"{src} -> {dst}"
        ok = True
        for end, key in ((src, "source"), (dst, "target")):
            if end not in by_id:
                problems.append(Problem(pointer("edges", i, key),
                                        f"The edge {label} points to {end!r}, which is not a node of "
                                        f"this pipeline." + _did_you_mean(end, by_id),
                                        "dangling_edge", edge=label))
                ok = False
        if not ok:
            continue
        edge_key = (src, dst, edge.get("source_handle"), edge.get("target_handle"))
        if edge_key in seen_edges:
            problems.append(Problem(pointer("edges", i), f"The edge {label} is drawn twice "
                                    f"(also edge {seen_edges[edge_key]}).", "duplicate_edge", edge=label))
            continue
        seen_edges[edge_key] = i
        if src == dst:
            problems.append(Problem(pointer("edges", i), f"Node {src!r} is connected to itself; a "
                                    "pipeline cannot loop.", "cycle", node_id=src, edge=label))
            continue
        source, target = by_id[src], by_id[dst]
        graph[dst].add(src)
        out_port = _source_port(source, edge.get("source_handle"), i, label, problems)
        in_port = _target_port(target, edge.get("target_handle"), i, label, problems)
        if out_port is not None:
            outgoing[src].append(i)
        if in_port is not None:
            incoming[(dst, in_port)].append(i)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        cycle = list(exc.args[1])
        problems.append(Problem(pointer("edges"), "These nodes form a loop, so no order can run them: "
                                + " -> ".join(cycle) + ".", "cycle", node_id=cycle[0]))
    for node in nodes:
        module = node.module
        if module is None:
            continue
        for port in module.inputs:
            count = len(incoming.get((node.id, port.name), []))
            where = "" if len(module.inputs) == 1 else f" on its {port.name!r} input"
            if count < port.min_edges:
                need = "an input" if port.min_edges == 1 else f"at least {port.min_edges} inputs"
                problems.append(Problem(pointer("nodes", node.index), f"Node {node.id!r} "
                                        f"({module.name}) needs {need}{where}; connect a node to it.",
                                        "missing_input", node_id=node.id))
            elif port.max_edges is not None and count > port.max_edges:
                problems.append(Problem(pointer("nodes", node.index), f"Node {node.id!r} "
                                        f"({module.name}) takes {port.max_edges} input{where} but "
                                        f"{count} are connected.", "too_many_inputs",
                                        node_id=node.id))
        if module.outputs and not outgoing.get(node.id):
            problems.append(Problem(pointer("nodes", node.index), f"Node {node.id!r} ({module.name}) "
                                    "is not connected to anything downstream; its result is unused.",
                                    "unused_output", node_id=node.id, severity="warning"))
    problems += _limits_after_incremental(nodes, graph)
    if nodes and not any(n.module is not None and n.module.kind == "loader" for n in nodes):
        problems.append(Problem(pointer("nodes"), "The pipeline has no loader, so a run writes "
                                "nothing; add a loader to keep the result.", "no_loader",
                                severity="warning"))
    return problems


def _limits_after_incremental(nodes: list[_RawNode], graph: Mapping[str, set[str]]) -> list[Problem]:
    """A `limit` after an incremental source: the run cannot save the source's position."""
    problems = []
    for node in nodes:
        if node.module is None or not getattr(node.module, "keeps_first_rows", False):
            continue
        seen, todo = set(), list(graph.get(node.id, ()))
        while todo:
            up = todo.pop()
            if up not in seen:
                seen.add(up)
                todo.extend(graph.get(up, ()))
        sources = [n.id for n in nodes if n.id in seen and isinstance(n.config, Mapping)
                   and n.config.get("incremental")]
        if sources:
            problems.append(Problem(
                pointer("nodes", node.index), f"Node {node.id!r} ({node.module.name}) keeps only the "
                f"first rows of the incremental source {', '.join(map(repr, sources))}: a run "
                "with it does not save the source's position (that would skip the rows it drops), "
                "so every run reads the same rows again. Remove it to read on.",
                "limit_after_incremental", node_id=node.id, severity="warning"))
    return problems


def _source_port(node: _RawNode, handle: Any, i: int, label: str,
                 problems: list[Problem]) -> str | None:
    module = node.module
    if module is None:
        return None
    names = [p.name for p in module.outputs]
    if not names:
        problems.append(Problem(pointer("edges", i, "source"), f"The edge {label} starts at "
                                f"{node.id!r}, {_KIND_WORDS[module.kind]}: a loader writes data and "
                                "has no output to connect.", "loader_has_no_output",
                                node_id=node.id, edge=label))
        return None
    if handle is None:
        return names[0]
    if handle not in names:
        problems.append(Problem(pointer("edges", i, "source_handle"), f"Node {node.id!r} has no "
                                f"output {handle!r}; its outputs are {', '.join(names)}.",
                                "unknown_handle", node_id=node.id, edge=label))
        return None
    return str(handle)


def _target_port(node: _RawNode, handle: Any, i: int, label: str,
                 problems: list[Problem]) -> str | None:
    module = node.module
    if module is None:
        return None
    names = [p.name for p in module.inputs]
    if not names:
        problems.append(Problem(pointer("edges", i, "target"), f"The edge {label} ends at "
                                f"{node.id!r}, an extractor: extractors read from a source and take "
                                "no input.", "extractor_has_no_input", node_id=node.id, edge=label))
        return None
    if handle is None:
        if len(names) == 1:
            return names[0]
        problems.append(Problem(pointer("edges", i, "target_handle"), f"Node {node.id!r} "
                                f"({module.name}) has several inputs ({', '.join(names)}); say which "
                                "one the edge enters with 'target_handle'.", "handle_required",
                                node_id=node.id, edge=label))
        return None
    if handle not in names:
        problems.append(Problem(pointer("edges", i, "target_handle"), f"Node {node.id!r} has no "
                                f"input {handle!r}; its inputs are {', '.join(names)}.",
                                "unknown_handle", node_id=node.id, edge=label))
        return None
    return str(handle)


def _schedule(raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    schedule = raw.get("schedule")
    if isinstance(schedule, str) and not croniter.is_valid(schedule):
        problems.append(Problem(pointer("schedule"), f"The schedule {schedule!r} is not a valid cron "
                                "expression (5 fields: minute hour day-of-month month day-of-week, "
                                "e.g. '0 2 * * *').", "bad_cron"))
    tz = raw.get("timezone")
    if isinstance(tz, str):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(Problem(pointer("timezone"), f"{tz!r} is not a known time zone; use an "
                                    "IANA name such as 'Europe/Paris' or 'UTC'.", "bad_timezone"))
    return problems
