"""The local head's Ray node, started without the ``ray`` command line (issue 10: start-up cost).

``ray start --head --block`` imports Ray's whole command line first (``ray.scripts.scripts``: Serve,
pandas, the autoscaler's commands — ~1.7 s of CPU here, before the first Ray process starts) and starts
a Ray Client server nobody uses (``ray://`` is not how haybale connects: one more Python process
importing Ray at start-up, on a 2-core machine beside the job's own). This module does what that
command does for the embedded default's head — builds the node's parameters, enables token
authentication as the command does, starts the node (GCS, raylet and its agents) through
:class:`ray._private.node.Node` — and then, like ``--block``, watches its processes: when one
of them dies, it stops the others and exits non-zero (the supervisor, :mod:`ingest.local_head`, then
sees the head gone). When the supervisor itself is gone (SIGKILLed, or killed for memory, so that
its cleanup never ran), it stops the node and exits too: nothing else would ever stop it. Run as ``python -m ingest.ray_head_process JSON`` (the options, as
:func:`ingest.local_head._serve` writes them); it prints the node's GCS address once the node is up.

Unlike ``ray start``, it does not start Ray's API server (the dashboard process serving the job and
state APIs): haybale's drivers connect to the GCS and nothing of haybale's calls those APIs on the
embedded head, and Ray's start waits for that server to come up (a Python process importing aiohttp
and the dashboard's modules: ~0.8 CPU s here, on the head start's critical path). A cluster started with
``ray start`` (deploy/) keeps it for ``ray job submit``.

Everything it uses is Ray's own start-up path (internal modules): should a Ray upgrade move them, the
import fails at once and :mod:`ingest.local_head` falls back to ``ray start`` (see
:func:`lightweight_head_available`).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from catalog.failpoints import failpoint
from ingest.stop_signals import StopSignals


def lightweight_head_available() -> bool:
    """True if this Ray has the internal start-up API this module uses (checked without importing Ray:
    the supervisor stays light)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in (
            "ray._private.node", "ray._private.parameter", "ray._private.services",
            "ray._private.authentication.authentication_token_setup",
            "ray._common.usage.usage_lib"))
    except ModuleNotFoundError:
        return False


def _node_class(node: type) -> type:
    """Ray's ``Node`` without the API server (see the module docstring)."""

    class NodeWithoutApiServer(node):  # type: ignore[misc, valid-type]
        def start_api_server(self, *, include_dashboard: bool | None, raise_on_failure: bool) -> None:
            self._webui_url = None  # what ``Node`` records when the server could not start

    return NodeWithoutApiServer


def run(options: dict[str, Any]) -> int:
    """Start the head node of ``options`` and watch it (see the module docstring)."""
    import ray._private.node
    import ray._private.parameter
    import ray._private.services
    from ray._common.usage import usage_lib
    from ray._private.authentication.authentication_token_setup import (
        ensure_token_if_auth_enabled,
        maybe_enable_token_auth_if_token_available,
    )

    # the process that started this one: its death ends the node (below). Named in the options, as a
    # supervisor SIGKILLed while this process was still importing Ray left it a child of init already:
    # os.getppid() then named init, and the node outlived everyone (one ran for two hours beside the
    # suite, holding 2 CPUs)
    supervisor = int(options.get("supervisor") or os.getppid())
    if os.getppid() != supervisor:
        print(f"the supervisor (pid {supervisor}) is gone before the node started; not starting it", flush=True)
        return 1
    usage_lib.set_usage_stats_enabled_via_env_var(False)
    ip = ray._private.services.resolve_ip_for_localhost(options["node_ip_address"])  # as `ray start` does
    params = ray._private.parameter.RayParams(
        node_ip_address=ip, node_name=ip, object_manager_port=options["object_manager_port"],
        node_manager_port=options["node_manager_port"], num_cpus=options["num_cpus"],
        resources=options["resources"], temp_dir=options["temp_dir"], include_dashboard=False,
        dashboard_port=options["dashboard_port"], dashboard_agent_listen_port=options["dashboard_agent_listen_port"],
        metrics_agent_port=options["dashboard_agent_grpc_port"], runtime_env_agent_port=options["runtime_env_agent_port"],
        metrics_export_port=options["metrics_export_port"], no_monitor=True, include_log_monitor=False,
        huge_pages=False)
    params.gcs_server_port = options["port"]
    params.update_if_absent(redis_shard_ports=None, num_redis_shards=None, redis_max_clients=None)
    maybe_enable_token_auth_if_token_available()
    ensure_token_if_auth_enabled(None, create_token_if_missing=False)
    failpoint("local_head.node_starting")  # tests: a head that dies while starting is started again
    node = _node_class(ray._private.node.Node)(params, head=True, shutdown_at_exit=True, spawn_reaper=True)
    print(f"Ray head node at {node.address}", flush=True)

    stops = StopSignals(signal.SIGTERM)
    while not stops.stopping:
        time.sleep(1.0)
        if os.getppid() != supervisor:  # SIGKILLed (or OOM-killed): nobody would ever stop this node
            print(f"the supervisor (pid {supervisor}) is gone; stopping the node", flush=True)
            node.kill_all_processes(check_alive=False, allow_graceful=True)
            return 1
        dead = node.dead_processes()
        if dead:
            print(f"Ray head process(es) died: {[kind for kind, _ in dead]}; stopping the node", flush=True)
            node.kill_all_processes(check_alive=False, allow_graceful=False)
            return 1
    node.kill_all_processes(check_alive=False, allow_graceful=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m ingest.ray_head_process OPTIONS_JSON")
    sys.exit(run(json.loads(sys.argv[1])))
