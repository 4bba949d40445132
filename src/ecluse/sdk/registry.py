"""The module catalog: built-in and third-party modules, from the ``ecluse.modules``
entry-point group."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points

from ecluse.sdk.module import Module, ModuleKind

ENTRY_POINT_GROUP = "ecluse.modules"


class RegistryError(Exception):
    pass


class Registry:
    def __init__(self, modules: Iterable[type[Module]] = ()) -> None:
        self._modules: dict[tuple[str, str], type[Module]] = {}
        self.load_errors: list[str] = []
        for module in modules:
            self.register(module)

    def register(self, module: type[Module]) -> type[Module]:
        if not (isinstance(module, type) and issubclass(module, Module)):
            raise RegistryError(f"{module!r} is not an Ecluse module class")
        for attr in ("kind", "name", "title", "description", "Config"):
            if not hasattr(module, attr):
                raise RegistryError(f"module class {module.__qualname__} has no {attr!r}")
        key = (module.kind, module.name)
        existing = self._modules.get(key)
        if existing is not None and existing is not module:
            raise RegistryError(
                f"{module.kind} {module.name!r} is defined twice: by {existing.__module__} "
                f"and by {module.__module__}")
        self._modules[key] = module
        return module

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> Registry:
        for ep in entry_points(group=group):
            try:
                self.register(ep.load())
            except Exception as exc:  # a broken plugin must not take the catalog down
                self.load_errors.append(f"plugin {ep.name!r} ({ep.value}): {exc}")
        return self

    def get(self, kind: str, name: str) -> type[Module] | None:
        return self._modules.get((kind, name))

    def kinds_of(self, name: str) -> list[ModuleKind]:
        return [k for (k, n) in self._modules if n == name]  # type: ignore[misc]

    def suggest(self, kind: str, name: str) -> str | None:
        names = [n for (k, n) in self._modules if k == kind]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return close[0] if close else None

    def all(self) -> list[type[Module]]:
        order = {"extractor": 0, "transformer": 1, "loader": 2}
        return sorted(self._modules.values(), key=lambda m: (order[m.kind], m.name))


@cache
def default_registry() -> Registry:
    """Every installed module (built-ins register through the same entry points)."""
    return Registry().load_entry_points()
