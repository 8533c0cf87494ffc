"""The catalog service beside other processes: a live writer whose registrations become visible, and
``haybale catalog serve`` as a subprocess (answers like the embedded commands, stops on SIGTERM)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog.client import CatalogClient
from catalog.errors import KeyNotFoundError, ServiceUnavailableError
from catalog.service import ServiceConfig
from catalog.service_run import ServiceThread
from tests.catalog.service_helpers import REPO, build_root, haybale, register_in, start_writer, stop_writer


@pytest.mark.parametrize("bulk", [False, True], ids=["register_many", "bulk"])
def test_keys_registered_by_a_live_writer_become_visible(tmp_path: Path, bulk: bool) -> None:
    root = str(tmp_path / "root")
    build_root(root)
    writer = None
    try:
        # periodic refresh: the service notices the new files of a writer that started after it
        with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0.2)) as svc, CatalogClient(svc.url) as c:
            writer = start_writer(root, bulk)  # the service holds no write lock
            with pytest.raises(KeyNotFoundError):
                c.get("late-1")
            register_in(writer, ["late-1", "https://late.example/a"])
            deadline = time.monotonic() + 15
            # both keys: a refresh may land between the shards of one registration (the snapshot then
            # holds one key and not yet the other); the next refresh sees both
            while c.exists_many(["late-1", "https://late.example/a"]) != [True, True] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.cat("late-1") == b"late:late-1" and c.cat("https://late.example/a") == b"late:https://late.example/a"
            assert list(c.list("https://late.example/")) == ["https://late.example/a"]
        # on demand only, started beside the live writer: invisible until refresh, visible right after
        assert writer.poll() is None
        with ServiceThread(ServiceConfig(root=root, port=0, refresh_seconds=0)) as svc, CatalogClient(svc.url) as c:
            generation = c.health()["generation"]
            assert c.refresh()["reopened"] is False  # nothing changed since it opened
            register_in(writer, ["late-2"])
            assert c.exists_many(["late-1", "late-2"]) == [True, False]
            answer = c.refresh()
            assert answer["reopened"] is True and answer["generation"] == generation + 1
            assert c.get_many(["late-2"])[0] is not None and c.cat("late-2") == b"late:late-2"
            assert c.refresh(force=True)["reopened"] is True
    finally:
        if writer is not None:
            stop_writer(writer)


def test_haybale_catalog_serve_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    build_root(root)
    token = "catalog-serve-alias-token-0123456789"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    env = {**os.environ, "HAYBALE_ROOT": root, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "haybale", "catalog", "serve", "--port", "0",
                             "--refresh-seconds", "0.5", "--token-file", str(token_file)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = found.group(0)
        with CatalogClient(url, token=token) as c:
            assert c.health()["status"] == "ok"
        key = "https://example.com/section/1/page-1.html"
        for args in (["get", key], ["cat", "--raw", "https://example.com/gz"], ["ls", "https://example.com/"],
                     ["ls", "--long", "--limit", "5"], ["ls", "--json"], ["stats", "--json"]):
            embedded = haybale("catalog", *args, root=root)
            served = haybale("catalog", *args, "--url", url, "--token-file", str(token_file), root=root)
            assert served == embedded, args
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "stopped" in proc.stdout.read()
        with CatalogClient(url) as c, pytest.raises(ServiceUnavailableError):
            c.health()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        down = subprocess.run([sys.executable, "-m", "haybale", "catalog", "stats", "--url", url], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=60)
        assert down.returncode == 2 and f"no catalog service answers at {url}" in down.stderr
        assert "Traceback" not in down.stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
