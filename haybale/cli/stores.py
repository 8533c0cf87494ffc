"""How commands open a deployment root: a reader for queries, a writable store for jobs, and the rule
that a command which fails leaves nothing behind that it created.

- :func:`open_reader` gives a :class:`~catalog.reader.CatalogReader`: the catalog service's client
  with ``--url``, else the root's embedded store opened read-only (never created). Commands use the
  reader's methods and do not care which one they got.
- :func:`writable_store` opens (or creates) the root for writing. If the command then fails while the
  catalog is still empty, the root and catalog directories this command created are removed again
  (a failed first ingest leaves no empty catalog behind); a catalog that holds records is kept, since
  a rerun with the same run id resumes from it, and so is a root holding a run's report (a WARC run
  refused by its error budget keeps ``runs/RUN_ID/quarantine.jsonl``, which its error names).
- :func:`job_store` is what job commands open: the root's owners on Ray (the cluster at ``--address``
  / ``$RAY_ADDRESS``, else the root's persistent local head, see :mod:`ingest.local_head`), reached on
  first use, so any number of jobs write one root at once; with ``--no-ray`` the owners are opened in
  this process (refused while the root's local head serves them).
- :func:`key_argument` reads a key typed on the command line: a local path means its ``file://`` key.

The catalog modules are imported when a function here runs, not with the module: the command line is
built from every command module, and ``haybale dedup clean-html`` should not pay for the catalog's.
"""
from __future__ import annotations

import argparse
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from catalog.layout import RootLayout
    from catalog.reader import CatalogReader
    from catalog.store import Store


def open_reader(args: argparse.Namespace) -> CatalogReader:
    """The catalog to query: the service at ``--url``, else the root's store, read-only."""
    if getattr(args, "url", None):
        from catalog.client import CatalogClient
        from catalog.tokens import read_token_file

        token_file = getattr(args, "token_file", None)
        return CatalogClient(args.url, token=read_token_file(token_file) if token_file else None)
    from catalog.store import Store

    return Store(args.root, catalog_dir=args.catalog_dir, read_only=True, create=False)


def new_paths(layout: RootLayout) -> list[Path]:
    """The topmost directories that opening ``layout`` for writing would create (local paths only)."""
    wanted = [layout.catalog_dir] + ([Path(layout.root)] if layout.local else [])
    created: list[Path] = []
    for path in wanted:
        top = None
        for candidate in [path, *path.parents]:
            if candidate.exists():
                break
            top = candidate
        if top is not None and top not in created:
            created.append(top)
    return created


@contextmanager
def writable_store(args: argparse.Namespace, **options: object) -> Iterator[Store]:
    """The root's store, opened for writing (created if missing); see the module docstring for what a
    failure removes: only while no other command uses the catalog directory
    (:class:`~haybale.cli.root_users.RootUsers`), since on a new root what this command found missing
    may have been created by another one started at the same time."""
    from catalog.catalog_meta import load_meta
    from catalog.errors import CatalogLockedError
    from catalog.layout import RootLayout
    from catalog.store import Store
    from haybale.cli.root_users import RootUsers

    layout = RootLayout.of(args.root, args.catalog_dir)
    created = new_paths(layout)
    meta_existed = load_meta(layout.root) is not None
    users = RootUsers(layout.catalog_dir).join()
    try:
        try:
            store = Store(args.root, catalog_dir=args.catalog_dir, **options)  # type: ignore[arg-type]
        except CatalogLockedError as exc:
            if options.get("cluster"):
                raise
            raise CatalogLockedError(exc.what, "wait for that command to finish, or run both without --no-ray "
                                     "(jobs on the root's local Ray head share its catalog)") from None
        except BaseException:
            if users.alone():
                _remove_created(layout, created, meta_existed)
            raise
        try:
            yield store
        except BaseException as failure:
            try:
                empty = not _holds_anything(store) and not _holds_a_run_report(layout)
            except Exception:  # noqa: BLE001 - a catalog that cannot say keeps what it holds
                empty = False
            alone = empty and users.alone()
            if alone and store.cluster and store.catalog._connect is None:  # the owners were started: stop them
                from catalog.owner_actor import stop_owners

                stop_owners(store.catalog.meta.catalog_id, store.catalog.meta.num_owners)
            try:
                store.close()
            except Exception as close_error:  # noqa: BLE001 - the command's own failure is the one to report
                failure.add_note(f"closing the catalog failed too: {type(close_error).__name__}: {close_error}")
            if alone:
                _remove_created(layout, created, meta_existed)
            raise
        else:
            store.close()
    finally:
        users.leave()


def _remove_created(layout: RootLayout, created: list[Path], meta_existed: bool) -> None:
    from catalog.catalog_meta import meta_url

    for path in created:
        shutil.rmtree(path, ignore_errors=True)
    if not meta_existed and layout.local:
        Path(meta_url(layout.root)).unlink(missing_ok=True)


@contextmanager
def job_store(args: argparse.Namespace, **options: object) -> Iterator[Store]:
    """The store a job command writes: the owners on Ray, or with ``--no-ray`` in this process."""
    from catalog.layout import RootLayout

    layout = RootLayout.of(args.root, args.catalog_dir)
    if getattr(args, "no_ray", False):
        refuse_if_served(layout, "drop --no-ray to run the job there")
        with writable_store(args, **options) as store:
            yield store
        return
    from ingest.cluster_connection import RootConnection

    connection = RootConnection(layout, getattr(args, "address", None), getattr(args, "num_cpus", None))
    if connection.address is None:  # the embedded default: a catalog created here fits the local head
        from catalog.catalog_meta import embedded_owners

        options.setdefault("num_shards", embedded_owners(getattr(args, "num_cpus", None) or os.cpu_count() or 2))
    try:
        with writable_store(args, cluster=True, connect_ray=connection, **options) as store:
            yield store
    finally:
        connection.close()


def served_by_head(layout: RootLayout) -> dict | None:
    """The state of the root's running local head, or None."""
    from ingest.cluster_connection import head_base
    from ingest.local_head import read_state, state_dir_of

    return read_state(state_dir_of(head_base(layout)))


def refuse_if_served(layout: RootLayout, instead: str) -> None:
    """Raise :class:`RootError` if the root's local head (and so its owners) runs: this process cannot
    open the owners' directories for writing beside them."""
    from catalog.errors import RootError

    state = served_by_head(layout)
    if state is not None:
        raise RootError(f"root {layout.root} is served by its local Ray head (pid {state['pid']}, "
                        f"{state['address']}): {instead}, or stop the head first with "
                        f"`haybale down --root {layout.root}`")


def _holds_anything(store: Store) -> bool:
    if store.cluster and store.catalog._connect is not None:
        return False  # never connected: nothing was written through it
    try:
        return store.catalog.stats()["records"] > 0 or any(True for _ in store.catalog.volumes)
    except Exception:  # noqa: BLE001 - a catalog that cannot even be counted is kept for inspection
        return True


def _holds_a_run_report(layout: RootLayout) -> bool:
    """True if a run left its folder (the job runner removes it unless there is a report to keep)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(layout.runs_url)
    try:
        return bool(fs.exists(path) and fs.ls(path))
    except OSError:
        return True


def key_argument(text: str) -> str:
    """The catalog key meant by ``text`` as typed: a local path (absolute, starting with ``./``,
    ``../`` or ``~``, or naming an existing file or directory) means its ``file://`` key, so
    ``haybale catalog cat /data/in/a.txt`` finds what ``haybale ingest files /data/in`` stored.
    A trailing ``/`` is kept (a listing prefix). URLs, SURT prefixes and other keys are unchanged."""
    if not text or "://" in text:
        return text
    if text.startswith(("/", "./", "../", "~")) or text in (".", "..") or os.path.exists(text):
        from catalog.keys import file_uri

        key = file_uri(os.path.expanduser(text))
        if text.endswith("/") and not key.endswith("/"):
            key += "/"
        return key
    return text


def listing_prefix_argument(text: str) -> str:
    """The listing prefix meant by ``text`` as typed: :func:`key_argument`, and a local path naming an
    existing directory lists that directory (its ``file://`` key and ``/``), so ``catalog ls /data/in``
    does not also list ``/data/in2/…``. A URI or key typed as such stays a plain string prefix."""
    prefix = key_argument(text)
    if prefix != text and not prefix.endswith("/") and os.path.isdir(os.path.expanduser(text)):
        prefix += "/"
    return prefix


def volume_defaults(args: argparse.Namespace) -> None:
    """Fill in ``--volume-bytes`` and ``--compress-level`` left out (parsed as None, so that building
    the command line does not import the volume writer for its defaults)."""
    from catalog.volume import DEFAULT_VOLUME_BYTES
    from catalog.warc_records import DEFAULT_COMPRESS_LEVEL

    if getattr(args, "volume_bytes", 0) is None:
        args.volume_bytes = DEFAULT_VOLUME_BYTES
    if getattr(args, "compress_level", 0) is None:
        args.compress_level = DEFAULT_COMPRESS_LEVEL
