"""The options the ``haybale`` subcommands share, each defined once, and the argument parser class.

Global options (``--root``, ``--catalog-dir``, ``--json``, ``--quiet``) are accepted before the
subcommand (``haybale --root R catalog stats``, like ``git -C``) and after it (``haybale catalog stats
--root R``): :func:`add_global_options` adds them to the top-level parser with their defaults and to
every subcommand with no default of its own, so a value given after the subcommand wins and one given
before is not overwritten.

Number options are checked when parsed (:func:`positive_int` and friends), so a bad value is refused
before anything is opened or created.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable, NoReturn

GLOBAL_OPTIONS = ("root", "catalog_dir", "json", "quiet")


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the argument and where to read more."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--root``, ``--catalog-dir``, ``--json``, ``--quiet``: with defaults on the top-level parser
    (``top``), without (``argparse.SUPPRESS``) on a subcommand's."""
    unset: Any = argparse.SUPPRESS
    group = parser.add_argument_group("options of every command")
    group.add_argument("--root", default=None if top else unset, metavar="DIR_OR_URL",
                       help="deployment root holding catalog, volumes and runs "
                            "(default: $HAYBALE_ROOT, else ./haybale-data)")
    group.add_argument("--catalog-dir", default=None if top else unset, metavar="DIR",
                       help="local directory of the catalog (default: $HAYBALE_CATALOG_DIR, else "
                            "ROOT/catalog; required for a remote root)")
    group.add_argument("--json", action="store_true", default=False if top else unset,
                       help="print the result as JSON")
    group.add_argument("--quiet", action="store_true", default=False if top else unset,
                       help="no progress lines on stderr")


def command(group: "argparse._SubParsersAction[Any]", name: str, help: str,
            func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand parser with the global options, running ``func(args)``."""
    parser = group.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".")
    add_global_options(parser, top=False)
    parser.set_defaults(func=func)
    return parser


FOLLOW_LINKS_HELP = ("follow symbolic links found inside input directories and globs to regular files (the key is "
                     "the link's path); without it they are listed as not read (a link named as an input is "
                     "always read)")


def add_job_options(parser: argparse.ArgumentParser, *, local: bool = True, cpus: bool = True,
                    address_help: str | None = None) -> None:
    """Options of the Ray jobs: run id, Ray address, (``cpus``) CPUs of a local Ray, and (``local``)
    ``--no-ray``."""
    group = parser.add_argument_group("running the job")
    group.add_argument("--run-id", default="", metavar="ID",
                       help="name of this run; rerun with the same id to resume after a crash or a "
                            "failure (default: a new id)")
    group.add_argument("--address", default=None,
                       help=address_help or "Ray cluster address (default: $RAY_ADDRESS, else a local Ray "
                                            "started for this command)")
    if cpus:
        group.add_argument("--num-cpus", type=positive_int, default=None,
                           help="CPUs of the local Ray (default: all)")
    if local:
        group.add_argument("--no-ray", action="store_true",
                           help="run the job in this process, one split at a time, without Ray")


def add_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, metavar="URL",
                        help="query a running catalog service (e.g. http://127.0.0.1:7480, see `haybale "
                             "catalog serve`) instead of opening the catalog; --root is then not used")
    parser.add_argument("--token-file", default=None, metavar="FILE",
                        help="with --url: file holding the service's bearer token (default: $HAYBALE_TOKEN, "
                             "else $HAYBALE_TOKEN_FILE)")


# -- value checks --------------------------------------------------------------------------------


def _number(text: str, kind: Callable[[str], Any], what: str, ok: Callable[[Any], bool], need: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}: give {need}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text} is out of range: give {need}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, "a whole number", lambda v: v > 0, "a whole number of 1 or more")


def non_negative_int(text: str) -> int:
    return _number(text, int, "a whole number", lambda v: v >= 0, "a whole number of 0 or more")


def positive_float(text: str) -> float:
    return _number(text, float, "a number", lambda v: v > 0, "a number above 0")


def non_negative_float(text: str) -> float:
    return _number(text, float, "a number", lambda v: v >= 0, "a number of 0 or more")


def unit_interval(text: str) -> float:
    return _number(text, float, "a number", lambda v: 0 < v <= 1, "a number above 0 and at most 1")


def port_number(text: str) -> int:
    return _number(text, int, "a port number", lambda v: 0 <= v <= 65535,
                   "a port from 1 to 65535, or 0 for any free port")


def int_at_least(low: int) -> Callable[[str], int]:
    """A whole number of ``low`` or more."""
    def check(text: str) -> int:
        return _number(text, int, "a whole number", lambda v: v >= low, f"a whole number of {low} or more")
    check.__name__ = f"int_at_least_{low}"
    return check


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""
    def check(text: str) -> int:
        return _number(text, int, "a whole number", lambda v: low <= v <= high, f"a whole number from {low} to {high}")
    check.__name__ = f"int_{low}_{high}"
    return check
