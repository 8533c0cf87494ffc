"""``haybale cluster status|stop`` and ``haybale down``: the root's persistent local Ray head (the
embedded default, see :mod:`ingest.local_head`). Job commands start it on demand and leave it running
for the next command; it stops itself after the idle timeout (default 900 s,
``HAYBALE_CLUSTER_IDLE_SECONDS``), or now with ``haybale down``, which refuses while commands use it
(they would fail) unless ``--force``."""
from __future__ import annotations

import argparse
import os

from haybale.cli import output
from haybale.cli.options import command


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    grp = sub.add_parser("cluster", help="the root's local Ray head, which job commands start and share")
    cmds = grp.add_subparsers(dest="cluster_cmd", required=True, metavar="COMMAND")
    command(cmds, "status", "show the root's local Ray head (address, pid, idle timeout, warm drivers), if one runs",
            cmd_status)
    for parent, name, text in ((cmds, "stop", "stop the root's local Ray head and the catalog owners on it"),
                               (sub, "down", "stop the root's local Ray head (same as `haybale cluster stop`)")):
        p = command(parent, name, text, cmd_stop)
        p.add_argument("--force", action="store_true",
                       help="stop it even while commands use it (they fail; a rerun of a job with its run id "
                            "resumes it)")


def _base(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from catalog.layout import RootLayout
    from ingest.cluster_connection import head_base

    return head_base(RootLayout.of(args.root, args.catalog_dir))


def cmd_status(args: argparse.Namespace) -> int:
    from ingest.local_head import live_users, read_state, state_dir_of

    state = read_state(state_dir_of(_base(args)))
    if args.json:
        output.print_json({**state, "users": live_users(state_dir_of(_base(args)))} if state else {})
    elif state is None:
        print(f"no local Ray head runs for {_base(args)}")
    else:
        print(f"local Ray head at {state['address']} (supervisor pid {state['pid']}, {state['num_cpus']} CPUs, "
              f"stops after {state['idle_timeout_seconds']:.0f} s idle)")
        print(f"  {_warm_drivers(state)}")
        users = live_users(state_dir_of(_base(args)))
        print(f"  in use by {len(users)} command(s)" + (f" (pid {', '.join(map(str, users))})" if users else ""))
    return 0


def _warm_drivers(state: dict) -> str:
    """Whether the head's warm drivers (haybale.cli.warm_drivers) take ingest commands now."""
    import os

    path = state.get("driver_socket")
    if not path:
        return "warm drivers: none (a head started by an older haybale)"
    if os.path.exists(path):
        return f"warm drivers: listening at {path} (ingest commands run forked from them)"
    if os.environ.get("HAYBALE_WARM_DRIVERS", "1") == "0":
        return "warm drivers: off here (HAYBALE_WARM_DRIVERS=0)"
    return ("warm drivers: not listening (they start once the head has been idle a second; "
            "see the head's log, ROOT/cluster/head.log)")


def cmd_stop(args: argparse.Namespace) -> int:
    from catalog.errors import RootError
    from ingest.local_head import live_users, read_state, state_dir_of, stop_head

    running = read_state(state_dir_of(_base(args))) is not None
    users = [pid for pid in live_users(state_dir_of(_base(args))) if pid != os.getpid()] if running else []
    if users and not args.force:
        raise RootError(f"the local Ray head of {_base(args)} is in use by {len(users)} command(s) (pid "
                        f"{', '.join(map(str, users))}); stopping it would fail them: wait for them to finish, "
                        "or pass --force")
    stopped = stop_head(_base(args))
    print(f"stopped the local Ray head of {_base(args)}" if stopped else f"no local Ray head runs for {_base(args)}")
    return 0
