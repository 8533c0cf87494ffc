"""The ``haybale`` command: one subcommand group per package (catalog, ingest, dedup).

Exit status: 0 done; 2 bad input or settings (one line on stderr naming the input and what to do);
1 a job that started and failed, or an unexpected error; 130 interrupted. ``HAYBALE_DEBUG=1`` shows
the traceback of any failure instead of the one line.
"""
from __future__ import annotations

import os
import sys

from catalog.disk_full import disk_full
from catalog.errors import HaybaleError
from haybale.cli.options import CommandParser, add_global_options
from haybale.version import __version__
from ingest.ray_token import is_ray_authentication_error, set_auth_mode, token_advice

__all__ = ["build_parser", "main"]


def build_parser() -> CommandParser:
    """The whole command tree. Building it imports no job code (no Ray, no RocksDB)."""
    from haybale.cli.catalog_commands import register as register_catalog
    from haybale.cli.cluster_commands import register as register_cluster
    from haybale.cli.dedup_commands import register as register_dedup
    from haybale.cli.ingest_commands import register as register_ingest
    from haybale.cli.serve_command import register as register_serve

    parser = CommandParser(
        prog="haybale",
        description="Data ingestion and dedup for model training: packed WARC volumes, a sharded "
                    "RocksDB catalog, Ray ingest jobs and MinHash-LSH dedup.")
    parser.add_argument("--version", action="version", version=f"haybale {__version__}")
    add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="group", required=True, metavar="{catalog,ingest,dedup,serve,cluster,down}")
    register_catalog(sub)
    register_ingest(sub)
    register_dedup(sub)
    register_serve(sub)
    register_cluster(sub)
    return parser


def main(argv: list[str] | None = None, warm: bool | None = None) -> int:
    """Run ``haybale ARGV`` (default: the process's arguments); returns the exit status. ``warm``: an
    ingest command may be run by the root's warm drivers (:mod:`haybale.cli.forked_command`); by
    default only the command itself (no ``argv`` given), never a call from Python code, whose patches
    and connections a warm driver would not have."""
    if warm is None:
        warm = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (already reported in one line)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    # Job commands join the root's local Ray head (token authentication) or a cluster (tokens if this
    # machine has one); Ray reads the mode once, when it is first imported, so it is set before any
    # command runs (ingest.ray_token)
    set_auth_mode(getattr(args, "address", None) or os.environ.get("RAY_ADDRESS"))
    if warm and getattr(args, "warm_driver", False):
        from haybale.cli.forked_command import run_warm, warm_socket

        socket_path = warm_socket(args)
        status = run_warm(argv, socket_path) if socket_path else None
        if status is not None:
            return status
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("haybale: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `haybale catalog ls | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except Exception as exc:
        if os.environ.get("HAYBALE_DEBUG"):
            raise
        message, status = describe_failure(exc)
        print(f"haybale: error: {message}", file=sys.stderr)
        return status


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """One line for ``exc`` and the exit status it calls for."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and type(exc).__module__.startswith("ray."):
        # a Ray task's error (RayTaskError, also an instance of its cause's class): its text is the
        # remote traceback; the cause says what happened
        exc = cause
    if isinstance(exc, HaybaleError):
        return _one_line(str(exc)), exc.exit_status
    if is_ray_authentication_error(exc):
        first = _one_line(str(exc)).split(". ")[0]
        return f"Ray refused to connect: {first}; {token_advice()}", 2
    if isinstance(exc, ModuleNotFoundError):
        return (f"this command needs the Python package {exc.name!r}, which is not installed: run "
                "`make install` (or `pip install -r requirements.lock`) in haybale's environment"), 2
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        where = f"{exc.filename}: " if exc.filename else ""
        return _one_line(f"{where}{exc.strerror or exc}: check the path"), 2
    if isinstance(exc, OSError) and getattr(exc, "__notes__", None):
        # storage that did not answer, with a note of what was being read (catalog.volume)
        doing = "; ".join(exc.__notes__)
        return _one_line(f"{doing}: {type(exc).__name__}: {exc}: check that this storage is reachable "
                         "(network, server, credentials), then run the command again"), 1
    if disk_full(exc):  # RocksDB says so in a plain Exception; a bare OSError named nothing to do
        return _one_line(f"{type(exc).__name__}: {exc}: a disk this command writes to is full or over quota: free "
                         "space there, then run the command again"), 1
    if any(cls.__name__ == "BotoCoreError" for cls in type(exc).__mro__):
        # the object store did not answer, or these credentials were not found (botocore's own errors)
        return _one_line(f"object storage failed: {type(exc).__name__}: {exc}: check AWS_ENDPOINT_URL, the network, "
                         "that the server is up and the credentials, then run the command again"), 1
    return (f"unexpected {type(exc).__name__}: {_one_line(str(exc)) or 'no message'} (a bug: rerun with "
            "HAYBALE_DEBUG=1 to see where, and report it)"), 1


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
