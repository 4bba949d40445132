"""The module catalog: built-in and third-party modules, from the ``ecluse.modules``
entry-point group."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType

from ecluse.sdk.module import Module, ModuleKind
from ecluse.sdk.suggest import closest

ENTRY_POINT_GROUP = "ecluse.modules"


class RegistryError(Exception):
    pass


class Registry:
    def __init__(self, modules: Iterable[type[Module]] = ()) -> None:
        self._modules: dict[tuple[str, str], type[Module]] = {}
        self._unimported: dict[str, list[str]] = {}
        """Files of registered packages not imported yet, by file name (= module name)."""
        self._import_lock = threading.RLock()
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
        """Register what each entry point names: a module class, or a Python package whose
        files each define module classes (how the built-ins register: one file per module,
        and adding one touches nothing else)."""
        for ep in entry_points(group=group):
            try:
                target = ep.load()
                if isinstance(target, ModuleType):
                    self.register_package(target)
                else:
                    self.register(target)
            except Exception as exc:  # a broken plugin must not take the catalog down
                self.load_errors.append(f"plugin {ep.name!r} ({ep.value}): {exc}")
        return self

    def register_package(self, package: ModuleType) -> None:
        """Register the module classes defined in the files of ``package``.

        Files are imported when first needed: a pipeline names a few of some fifty modules,
        and importing them all costs a quarter of a second at every command. A file named
        after its module is imported when that module is asked for; anything else (a listing,
        a miss) imports the rest."""
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if not info.ispkg:
                self._unimported.setdefault(info.name.rsplit(".", 1)[-1], []).append(info.name)

    def register_classes_of(self, py_module: ModuleType) -> None:
        """Register every concrete module class defined in ``py_module`` itself."""
        for _, obj in inspect.getmembers(py_module, inspect.isclass):
            if (issubclass(obj, Module) and obj.__module__ == py_module.__name__
                    and not inspect.isabstract(obj) and "name" in obj.__dict__):
                self.register(obj)

    def _import(self, file_name: str | None = None) -> None:
        with self._import_lock:
            if file_name is None:
                names = [n for group in self._unimported.values() for n in group]
                self._unimported.clear()
            else:
                names = self._unimported.pop(file_name, [])
            for name in names:
                try:
                    self.register_classes_of(importlib.import_module(name))
                except Exception as exc:
                    self.load_errors.append(f"{name}: {exc}")

    def get(self, kind: str, name: str) -> type[Module] | None:
        key = (kind, name)
        if key not in self._modules and self._unimported:
            self._import(name)
            if key not in self._modules:
                self._import()
        return self._modules.get(key)

    def kinds_of(self, name: str) -> list[ModuleKind]:
        self._import()
        return [k for (k, n) in self._modules if n == name]  # type: ignore[misc]

    def suggest(self, kind: str, name: str) -> str | None:
        self._import()
        return closest(name, [n for (k, n) in self._modules if k == kind])

    def all(self) -> list[type[Module]]:
        self._import()
        order = {"extractor": 0, "transformer": 1, "loader": 2}
        return sorted(self._modules.values(), key=lambda m: (order[m.kind], m.name))


@cache
def default_registry() -> Registry:
    """Every installed module (built-ins register through the same entry points)."""
    return Registry().load_entry_points()
