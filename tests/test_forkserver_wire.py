"""The warm drivers' messages: whole messages however the bytes arrive, descriptors passed with the
first message, a closed connection reported; and the code fingerprint that decides whether a warm
driver may run a command."""
from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest

from haybale.forkserver_wire import MessageReader, WireError, send_message
from haybale.source_fingerprint import import_environment, source_fingerprint


def test_two_messages_in_one_read_and_one_message_in_many() -> None:
    a, b = socket.socketpair()
    with a, b:
        send_message(a, {"pid": 7})
        send_message(a, {"exit": 0})
        reader = MessageReader(b)
        assert reader.read()[0] == {"pid": 7}
        assert reader.read()[0] == {"exit": 0}
        body = b'{"argv": ["ingest", "files", "x"]}'
        data = struct.pack(">I", len(body)) + body
        for i in range(len(data)):
            a.sendall(data[i:i + 1])
        assert reader.read()[0] == {"argv": ["ingest", "files", "x"]}


def test_descriptors_come_with_the_first_message(tmp_path: Path) -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    path = tmp_path / "f"
    path.write_text("hello")
    with a, b, open(path) as f:
        send_message(a, {"env": {"K": "v" * 100_000}}, fds=[f.fileno()])
        message, fds = MessageReader(b).read(max_fds=3)
        assert message["env"]["K"] == "v" * 100_000 and len(fds) == 1
        with os.fdopen(fds[0]) as passed:
            assert passed.read() == "hello"


def test_a_closed_connection_and_garbage_are_errors() -> None:
    a, b = socket.socketpair()
    with b:
        a.sendall(struct.pack(">I", 10) + b"12")
        a.close()
        with pytest.raises(WireError, match="closed in a message"):
            MessageReader(b).read()
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack(">I", 3) + b"[1]")
        with pytest.raises(WireError, match="not a JSON object"):
            MessageReader(b).read()


def test_the_fingerprint_changes_with_a_source_file_and_import_settings_exclude_per_command_ones(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text("x = 1\n")
    (pkg / "notes.txt").write_text("not code")
    before = source_fingerprint([str(pkg)])
    assert source_fingerprint([str(pkg)]) == before
    (pkg / "notes.txt").write_text("still not code")
    assert source_fingerprint([str(pkg)]) == before
    (pkg / "sub" / "mod.py").write_text("x = 2\n")  # same size, newer mtime
    st = (pkg / "sub" / "mod.py").stat()
    os.utime(pkg / "sub" / "mod.py", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert source_fingerprint([str(pkg)]) != before
    assert source_fingerprint() != source_fingerprint([str(pkg)])
    env = {"RAY_AUTH_MODE": "token", "HAYBALE_ROOT": "/x", "HAYBALE_FAILPOINT": "a", "PYTHONPATH": "/p",
           "HOME": "/root", "RAY_CLIENT_MODE": "0"}
    assert import_environment(env) == {"RAY_AUTH_MODE": "token", "HAYBALE_FAILPOINT": "a", "PYTHONPATH": "/p"}
