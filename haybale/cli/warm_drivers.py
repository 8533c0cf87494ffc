"""Warm drivers: job commands on the root's local head start with Ray and haybale already imported.

A job command is a Ray driver. Before it does any work it imports Ray, pyarrow, numpy and haybale's job
modules: ~0.7 CPU s of a files job's ~0.9 s driver on this machine (``python -c "import ray,
ingest.files_job, catalog.owned_catalog"``), paid again by every command, and twice over by two
commands at once on two cores.

The head's supervisor (:mod:`ingest.local_head`) starts this server once per head: it imports all of
that (it never connects to Ray; importing starts no thread) and waits on a Unix socket in the head's
temp dir, named in the head's state file. A job command (:mod:`haybale.cli.forked_command`) sends its
arguments, working directory, environment and umask, with its standard input, output and error
attached; the server forks a child that takes all of them and runs the command as the command's own
process would have (it connects to the head, registers as its user, writes to the caller's terminal),
then sends back the child's pid and, when it ends, its exit status.

Contract:
- the child is the command: same arguments, directory, environment, umask, descriptors and exit
  status (a child killed by a signal reports 128 + the signal's number);
- the server refuses a command whose code or import-time settings differ from its own
  (:mod:`haybale.source_fingerprint`): that command runs in its own process, as without a server;
- a command that goes away before its child ends (its connection closes) gets its child SIGTERMed,
  as a command's own driver would have ended with it;
- the server ends when its parent (the supervisor) does, and removes its socket.
"""
from __future__ import annotations

import atexit
import io
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

from haybale.forkserver_wire import MessageReader, WireError, send_message
from haybale.source_fingerprint import import_environment, source_fingerprint
from ingest.stop_signals import StopSignals

SOCKET_NAME = "driver.sock"
_POLL = 0.05  # seconds between checks for ended children and a gone supervisor


# modules a job's driver imports after it starts (Ray's serialization set-up at ray.init, the catalog's
# owner handles, fsspec for inputs): listed by diffing sys.modules of a files job's driver and this
# server; a name a newer Ray no longer has is skipped. Not here: anything that draws a Ray ID at import
# (ray.dag, ray.experimental.channel, ingest.crawl_job, which imports them): see _ids_differ_after_fork
_LATER_IMPORTS = ("ray._common.pydantic_compat", "ray.util.serialization_addons", "ray._private.arrow_serialization",
                  "ray._common.usage.usage_lib", "starlette.datastructures", "pyarrow.json", "fsspec",
                  "fsspec.implementations.local", "catalog.owner_actor", "ingest.cluster_connection",
                  "ingest.local_head", "ingest.warm_workers", "zoneinfo", "pydantic.v1.fields",
                  "fsspec.implementations.chained", "ray._private.runtime_env.uv_runtime_env_hook")


def _import_job_code() -> None:
    """What a job command imports before it works (the point of the server)."""
    import importlib

    import ray  # noqa: F401

    import catalog.owned_catalog  # noqa: F401
    import ingest.files_job  # noqa: F401
    import ingest.runner  # noqa: F401
    import ingest.warc_job  # noqa: F401
    from haybale.cli import build_parser

    build_parser()  # imports every command module
    for name in _LATER_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _ids_differ_after_fork() -> bool:
    """Whether two processes forked from this one draw different Ray IDs. Ray seeds its ID generator on
    first use, in C++, and a fork copies it: once anything in this process has drawn an ID (some Ray
    modules do at import), every child would make the same worker and object IDs, and two commands at
    once would break each other's Ray connections. Checked once, before serving."""
    read_end, write_end = os.pipe()
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                from ray._raylet import ObjectRef

                os.write(write_end, ObjectRef.from_random().binary()[:16])
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(write_end)
    for pid in pids:
        os.waitpid(pid, 0)
    drawn = b""
    while chunk := os.read(read_end, 64):
        drawn += chunk
    os.close(read_end)
    return len(drawn) == 32 and drawn[:16] != drawn[16:]


def serve(socket_path: str) -> int:
    """Serve commands on ``socket_path`` until the parent process ends or SIGTERM."""
    parent = os.getppid()
    stops = StopSignals()
    os.environ.setdefault("RAY_AUTH_MODE", "token")  # as haybale.cli.main sets it, before Ray is imported
    environment = import_environment(os.environ)  # what the imports below see
    _import_job_code()
    if not _ids_differ_after_fork():
        print("warm drivers off: Ray's ID generator was seeded while the job code was imported, so forked "
              "drivers would share IDs; job commands run in their own processes", flush=True)
        return 1
    fingerprint = source_fingerprint()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    listener.bind(socket_path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # child pid -> its command's connection
    print(f"warm drivers ready at {socket_path}", flush=True)
    try:
        while not stops.stopping and os.getppid() == parent:
            for key, _ in selector.select(timeout=_POLL):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    pid = _start(conn, fingerprint, environment, listener, selector, children)
                    if pid:
                        children[pid] = conn
                        selector.register(conn, selectors.EVENT_READ, pid)
                else:  # a command's connection: readable only when the command went away
                    selector.unregister(key.fileobj)
                    try:
                        os.kill(key.data, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            _reap(children, selector)
    finally:
        try:
            os.unlink(socket_path)
        except FileNotFoundError:
            pass
    return 0


def _start(conn: socket.socket, fingerprint: str, environment: dict[str, str], listener: socket.socket,
           selector: selectors.BaseSelector, children: dict[int, socket.socket]) -> int:
    """Read one command's request; fork its child, or refuse. Returns the child's pid (0: none)."""
    fds: list[int] = []
    try:
        conn.settimeout(5.0)
        request, fds = MessageReader(conn).read(max_fds=3)
        reason = _refusal(request, fds, fingerprint, environment)
        if reason:
            send_message(conn, {"refused": reason})
            conn.close()
            return 0
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _run_child(request, fds, conn, [listener, *children.values()], selector)
        send_message(conn, {"pid": pid})
        conn.settimeout(None)
        return pid
    except (OSError, WireError) as exc:
        print(f"warm drivers: a command's request failed ({exc}); it runs in its own process", flush=True)
        conn.close()
        return 0
    finally:
        for fd in fds:
            os.close(fd)


def _refusal(request: dict[str, Any], fds: list[int], fingerprint: str, environment: dict[str, str]) -> str:
    if len(fds) != 3:
        return "standard input, output and error did not come with the request"
    if request.get("fingerprint") != fingerprint:
        return "haybale's code or Python differ from the warm driver's"
    if import_environment(request.get("env") or {}) != environment:
        return "RAY_*, PYTHON* or HAYBALE_* settings differ from the warm driver's"
    return ""


def _run_child(request: dict[str, Any], fds: list[int], conn: socket.socket, inherited: list[socket.socket],
               selector: selectors.BaseSelector) -> None:
    """Become the command and run it; send its exit status on ``conn`` (the command's connection: the
    status reaches the command even if the server is gone by then) and exit the process with it."""
    status = 1
    try:
        selector.close()
        for sock in inherited:
            sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        fds.clear()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(int(request["umask"]))
        _fresh_std_streams()
        argv = [str(a) for a in request["argv"]]
        sys.argv = ["haybale", *argv]
        _retitle(argv)
        from haybale.cli import main

        status = main(argv, warm=False)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the command's own errors are handled by main; this is ours
        traceback.print_exc()
        status = 1
    finally:
        try:
            atexit._run_exitfuncs()  # what the command's own process would run at exit (ray.shutdown)
            sys.stdout.flush()
            sys.stderr.flush()
            send_message(conn, {"exit": status})
        except BaseException:  # noqa: BLE001 - the exit status below is what counts
            pass
        finally:
            os._exit(status)


def _retitle(argv: list[str]) -> None:
    """``ps`` shows the command, not the server it was forked from."""
    try:
        import ray._raylet  # Ray's own process titles (`ray::IDLE`) are set this way

        ray._raylet.setproctitle(" ".join(["haybale", *argv])[:400])
    except (ImportError, AttributeError):
        pass


def _fresh_std_streams() -> None:
    """Python's standard streams on the command's descriptors, buffered as Python would buffer them."""
    encoding = "utf-8"
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding,
                                  line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=encoding,
                                  errors="backslashreplace", line_buffering=True)


def _reap(children: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    """Send each ended child's exit status to its command."""
    while children:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        try:
            selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            send_message(conn, {"exit": 128 - code if code < 0 else code})
        except OSError:
            pass  # the command went away
        conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m haybale.cli.warm_drivers SOCKET_PATH")
    sys.exit(serve(sys.argv[1]))
