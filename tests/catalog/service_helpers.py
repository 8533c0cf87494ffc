"""Helpers shared by the catalog service tests: a real store to serve, raw HTTP, a live writer process."""
from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from catalog.store import Store
from catalog.warc_records import resource_record, response_record

REPO = Path(__file__).resolve().parents[2]
HTML = b"<html><body>hello from the catalog service</body></html>"


def build_root(root: str) -> dict[str, Any]:
    """A real store: files, web pages over three hosts (one gzip+chunked), marks on two keys.
    Returns what the embedded API says about it, to compare the service's answers with."""
    with Store(root) as store:
        writer = store.writer(max_bytes=20_000)
        sealed = []
        for i in range(40):
            key = f"file:///data/dir{i % 3}/doc-{i:03d}.txt"
            sealed += writer.append(key, resource_record(key, f"document {i} ".encode() * (i + 1)))
        for host in ("example.com", "www.example.org", "sub.example.com"):
            for j in range(12):
                url = f"https://{host}/section/{j % 4}/page-{j}.html"
                sealed += writer.append(url, response_record(
                    url, "HTTP/1.1 200 OK", [("Content-Type", "text/html")], b"<p>%d %s</p>" % (j, host.encode())))
        gz = gzip.compress(HTML)
        sealed += writer.append("https://example.com/gz", response_record(
            "https://example.com/gz", "HTTP/1.1 200 OK",
            [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")],
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(gz), gz)))
        sealed += writer.close()
        for volume in sealed:
            store.register_sealed(volume)
        store.catalog.mark_many([("https://example.com/section/1/page-1.html", "duplicate", "of page-5"),
                                 ("file:///data/dir0/doc-000.txt", "removed", "boilerplate")])
        keys = list(store.catalog.list())
        return {
            "keys": keys,
            "locations": dict(zip(keys, store.catalog.get_many(keys))),
            "contents": {k: store.cat(k) for k in keys},
            "stats": store.catalog.stats(),
            "volumes": len(sealed),
        }


def raw_http(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any, bytes]:
    """One raw HTTP request; returns (status, parsed JSON or None, raw body)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        ctype = resp.getheader("Content-Type", "")
    finally:
        conn.close()
    return resp.status, json.loads(data) if ctype.startswith("application/json") else None, data


def start_writer(root: str, bulk: bool = False) -> subprocess.Popen[str]:
    """A tests.catalog.service_writer process holding ``root``'s catalog for writing."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.catalog.service_writer", root] + (["--bulk"] if bulk else []),
                            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    return proc


def register_in(writer: subprocess.Popen[str], keys: list[str]) -> None:
    assert writer.stdin is not None and writer.stdout is not None
    writer.stdin.write(" ".join(keys) + "\n")
    writer.stdin.flush()
    assert writer.stdout.readline().strip() == f"REGISTERED {len(keys)}"


def stop_writer(writer: subprocess.Popen[str]) -> None:
    assert writer.stdin is not None
    writer.stdin.write("\n")
    writer.stdin.close()
    assert writer.wait(timeout=30) == 0


def haybale(*args: str, root: str) -> bytes:
    """stdout of a successful ``haybale ARGS`` run on ``root`` (fails the test otherwise)."""
    env = {**os.environ, "HAYBALE_ROOT": root, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "haybale", *args], cwd=REPO, capture_output=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout
