"""The messages between a job command and the warm-driver fork server (:mod:`haybale.cli.warm_drivers`).

One message is a 4-byte big-endian length and that many bytes of JSON on a Unix stream socket; the
first message of a command also carries its standard input, output and error as descriptors
(``SCM_RIGHTS``). Standard library only: the command uses this before importing any job code.
"""
from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_MESSAGE = 16 << 20  # an environment of a few KB; anything near this is not one of ours
_LENGTH = struct.Struct(">I")


class WireError(Exception):
    """The other side closed the connection or sent something that is not a message."""


def send_message(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send ``message`` (JSON-serializable), with ``fds`` attached to its first byte if given."""
    body = json.dumps(message).encode()
    data = _LENGTH.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [data], fds)
        data = data[sent:]
    if data:
        sock.sendall(data)


class MessageReader:
    """Reads messages from one socket (several may arrive in one read: the rest waits for the next call)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()

    def read(self, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
        """The next message and the descriptors that came with its first bytes (at most ``max_fds``)."""
        fds: list[int] = []
        if max_fds and not self._buf:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, max_fds)
            if not data:
                raise WireError("connection closed")
            self._buf += data
        while len(self._buf) < _LENGTH.size:
            self._more()
        (length,) = _LENGTH.unpack_from(self._buf)
        if length > MAX_MESSAGE:
            raise WireError(f"a message of {length} bytes")
        while len(self._buf) < _LENGTH.size + length:
            self._more()
        body = bytes(self._buf[_LENGTH.size:_LENGTH.size + length])
        del self._buf[:_LENGTH.size + length]
        try:
            message = json.loads(body)
        except ValueError as exc:
            raise WireError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise WireError("not a JSON object")
        return message, fds

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise WireError("connection closed" if not self._buf else "connection closed in a message")
        self._buf += chunk
