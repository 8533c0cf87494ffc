"""Package exports loaded on first use (PEP 562), so ``import haybale`` or ``import catalog`` costs
nothing and pulls in neither Ray nor RocksDB until a name that needs them is used.

    __getattr__, __dir__ = lazy_exports(__name__, {"Store": "catalog.store", ...})

A package lists its public names in ``__all__`` (the keys of the map); each name is imported from its
module the first time it is asked for, then cached in the package.
"""
from __future__ import annotations

import sys
from importlib import import_module
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, exporting ``name`` from module ``exports[name]``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
