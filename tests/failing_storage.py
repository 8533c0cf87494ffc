"""A real fsspec filesystem whose reads fail on a byte range, as a bad sector or a failing ranged GET does.

:class:`FlakyFileSystem` is fsspec's in-memory filesystem (protocol ``haybaleflaky://``) whose files
raise ``OSError(EIO)`` for every read — streamed (``read``/``readinto``) or ranged (``cat_file``) —
that touches the byte range ``FlakyFileSystem.bad`` (``None``: healthy), in the file
``FlakyFileSystem.bad_path`` (``None``: in every file); ``FlakyFileSystem.ranged = False`` lets ranged
reads through (a failure of the stream a parser reads only); ``FlakyFileSystem.heal_after = N``
makes the range heal after N failed reads (a storage hiccup). Take the ``flaky`` fixture of
tests/conftest.py (it registers the protocol and empties the store before and after the test);
:func:`put` stores a file. In-memory: only code running in the test's own process sees it.
"""
from __future__ import annotations

from typing import Any

import fsspec
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem


def _fails(path: str, start: int, stop: int) -> bool:
    bad, where = FlakyFileSystem.bad, FlakyFileSystem.bad_path
    failing = bad is not None and (where is None or where == path) and start < bad[1] and stop > bad[0]
    if failing and FlakyFileSystem.heal_after is not None:  # a hiccup: healthy after that many failed reads
        FlakyFileSystem.heal_after -= 1
        if FlakyFileSystem.heal_after <= 0:
            FlakyFileSystem.bad = None
    return failing


def _eio() -> OSError:
    return OSError(5, "Input/output error (simulated failing read)")


class _FlakyFile(MemoryFile):
    """A file whose reads fail (OSError) when they touch the filesystem's bad byte range."""

    def _check(self, size: int) -> None:
        at = self.tell()
        end = len(self.getbuffer()) if size is None or size < 0 else at + size
        if _fails(self.path, at, end):
            raise _eio()

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        self._check(size)
        return super().read(size)

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        self._check(len(memoryview(buffer)))
        return super().readinto(buffer)


class FlakyFileSystem(MemoryFileSystem):
    """An in-memory fsspec filesystem whose reads fail in the byte range ``bad`` (None: healthy) of
    the file ``bad_path`` (None: of every file)."""

    protocol = "haybaleflaky"
    store: dict[str, Any] = {}
    pseudo_dirs = [""]
    bad: tuple[int, int] | None = None
    bad_path: str | None = None
    ranged: bool = True  # False: ranged reads (cat_file) never fail
    heal_after: int | None = None  # reads that fail before the range heals by itself (None: never)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return super()._strip_protocol(path.removeprefix(f"{cls.protocol}://"))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        handle = super()._open(path, mode, **kwargs)
        if "r" not in mode:
            return handle
        return _FlakyFile(self, handle.path, bytes(handle.getbuffer()))

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        data = super().cat_file(path, start, end, **kwargs)
        first = start or 0
        if self.ranged and _fails(self._strip_protocol(path), first, first + len(data)):
            raise _eio()
        return data


def reset() -> None:
    """Register the protocol; an empty store and healthy reads."""
    fsspec.register_implementation(FlakyFileSystem.protocol, FlakyFileSystem, clobber=True)
    FlakyFileSystem.store.clear()
    FlakyFileSystem.bad = FlakyFileSystem.bad_path = None
    FlakyFileSystem.ranged = True
    FlakyFileSystem.heal_after = None


def put(name: str, data: bytes) -> str:
    """Store ``data`` as ``name`` on the flaky filesystem; its URL."""
    url = f"{FlakyFileSystem.protocol}://{name}"
    with fsspec.open(url, "wb") as out:
        out.write(data)
    return url


def path_of(url: str) -> str:
    """The path of a flaky filesystem URL, as ``FlakyFileSystem.bad_path`` names files."""
    return FlakyFileSystem._strip_protocol(url)
