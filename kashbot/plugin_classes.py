"""Finding a plug-in class (a strategy, a fair-value source) by module, ``module:Class`` or entry
point: the lookup the strategy loader and the fair-value loader share. Each failure is either a
reason string (the caller tries the next candidate and lists every reason) or the caller's error.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint
from types import ModuleType
from typing import Any, TypeGuard, TypeVar

T = TypeVar("T")


def import_or_reason(mod_name: str) -> ModuleType | str:
    """The module, or why it is not there (a missing dependency *inside* it propagates)."""
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (mod_name + ".").startswith(exc.name + "."):
            return f"no module {mod_name!r}"
        raise


def is_class_of(obj: object, base: type[T]) -> TypeGuard[type[T]]:
    return inspect.isclass(obj) and issubclass(obj, base)


def class_in_module(
    module: Any, base: type[T], export: str, error: Callable[[str], Exception]
) -> type[T]:
    """``module.<export>`` if it is a ``base`` class, else the one ``base`` subclass the module
    defines (``error`` when it defines none or several)."""
    exported = getattr(module, export, None)
    if is_class_of(exported, base):
        return exported
    found = [
        obj
        for obj in vars(module).values()
        if is_class_of(obj, base) and obj is not base and obj.__module__ == module.__name__
    ]
    if len(found) != 1:
        kind = base.__name__
        raise error(
            f"module {module.__name__} defines {len(found)} {kind} classes; "
            f"set {export} = <class> in it or name the class explicitly"
        )
    return found[0]


def class_from(
    module: ModuleType | str,
    attr: str,
    base: type[T],
    export: str,
    error: Callable[[str], Exception],
) -> type[T] | str:
    """``attr`` of an imported module (``""``: its one ``base`` class), or why not."""
    if isinstance(module, str):
        return module
    if not attr:
        return class_in_module(module, base, export, error)
    obj = getattr(module, attr, None)
    if is_class_of(obj, base):
        return obj
    return f"{module.__name__} has no {base.__name__} class {attr!r}"


def entry_point_class(
    found: Iterable[EntryPoint], name: str, base: type[T], error: Callable[[str], Exception]
) -> type[T] | None:
    """The ``base`` class of the first entry point ``found`` (the caller's
    ``entry_points(group=..., name=name)``); None: no distribution registers ``name``."""
    for ep in found:
        obj = ep.load()
        if is_class_of(obj, base):
            return obj
        raise error(f"entry point {name!r} ({ep.value}) is not a {base.__name__} class")
    return None
