"""A JSON diff with pointers: what changed between two versions of a document."""

from __future__ import annotations

from typing import Any

from ecluse.spec.problems import pointer


def json_diff(old: Any, new: Any, path: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Changes turning ``old`` into ``new``: ``{"op": "add|remove|replace", "path", "old",
    "new"}``. Nodes and edges are matched by id (by position when they have none)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, Any]] = []
        for key in old:
            if key not in new:
                out.append({"op": "remove", "path": pointer(*path, key), "old": old[key]})
            else:
                out.extend(json_diff(old[key], new[key], (*path, key)))
        out.extend({"op": "add", "path": pointer(*path, key), "new": new[key]}
                   for key in new if key not in old)
        return out
    if isinstance(old, list) and isinstance(new, list):
        if _keyed(old) and _keyed(new):
            return json_diff({x["id"]: x for x in old}, {x["id"]: x for x in new}, path)
        out = []
        for i in range(max(len(old), len(new))):
            if i >= len(old):
                out.append({"op": "add", "path": pointer(*path, i), "new": new[i]})
            elif i >= len(new):
                out.append({"op": "remove", "path": pointer(*path, i), "old": old[i]})
            else:
                out.extend(json_diff(old[i], new[i], (*path, str(i))))
        return out
    if old == new and type(old) is type(new):
        return []
    return [{"op": "replace", "path": pointer(*path), "old": old, "new": new}]


def _keyed(items: list[Any]) -> bool:
    ids = [x.get("id") for x in items if isinstance(x, dict)]
    return len(ids) == len(items) and all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)
