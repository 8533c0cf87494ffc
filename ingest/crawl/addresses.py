"""Which IP addresses the crawler may connect to, and a resolver that enforces it.

Only public unicast addresses are allowed unless ``allow_private``: loopback, private (RFC 1918,
ULA), link-local, multicast, reserved, unspecified and shared (CGNAT) addresses are refused. The
resolver drops refused addresses before aiohttp connects, so a name that resolves to both public and
private addresses only ever reaches the public ones; the fetcher also checks the peer address of the
socket actually connected to (IP-literal URLs bypass resolvers).
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class PrivateAddressError(OSError):
    """Every address of a host is private/reserved and private addresses are not allowed."""


def is_public_ip(address: str) -> bool:
    """True for a globally routable unicast address; False for anything else or an unparsable string."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or
                                       ip.is_link_local or ip.is_private or ip.is_unspecified)


def ip_literal(host: str) -> str | None:
    """The address if ``host`` is an IP literal (brackets allowed), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves through ``static_hosts`` first, then the system resolver, and drops addresses the crawl
    may not reach. Raises :class:`PrivateAddressError` when nothing is left."""

    def __init__(self, allow_private: bool, static_hosts: dict[str, str] | None = None,
                 inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._static = {k.lower(): v for k, v in (static_hosts or {}).items()}
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        fixed = self._static.get(host.lower())
        if fixed is not None:
            fam = socket.AF_INET6 if ":" in fixed else socket.AF_INET
            results: list[ResolveResult] = [{"hostname": host, "host": fixed, "port": port, "family": fam,
                                             "proto": 0, "flags": socket.AI_NUMERICHOST}]
        else:
            results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        public = [r for r in results if is_public_ip(r["host"])]
        if not public:
            refused = ", ".join(sorted({r["host"] for r in results}))
            raise PrivateAddressError(f"host {host!r} resolves only to non-public addresses ({refused}); "
                                      "set allow_private=True to crawl them")
        return public

    async def close(self) -> None:
        await self._inner.close()


def peer_ip_of(response: Any) -> str | None:
    """IP address of the socket a response arrived on, or None if it is no longer known."""
    conn = getattr(response, "connection", None)
    transport = getattr(conn, "transport", None) if conn is not None else None
    if transport is None:
        # aiohttp releases the connection as soon as a small body is fully buffered; its protocol
        # object (private attribute, stable across aiohttp 3.x) still holds the transport.
        protocol = getattr(response, "_protocol", None)
        transport = getattr(protocol, "transport", None)
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else None


class GuardedConnector(aiohttp.TCPConnector):
    """TCPConnector that checks the peer address of every new socket before a request is sent on it.

    This is the check that cannot be fooled by names (DNS rebinding) or IP-literal URLs: whatever the
    host resolved to, the socket's actual peer must be public unless ``allow_private``.
    """

    def __init__(self, *args: Any, allow_private: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._allow_private_peers = allow_private

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super()._wrap_create_connection(*args, **kwargs)
        if not self._allow_private_peers:
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if peer else "unknown"
            if not is_public_ip(address):
                transport.close()
                req = kwargs.get("req")
                error = PrivateAddressError(f"connected to non-public address {address}; "
                                            "set allow_private=True to crawl it")
                raise aiohttp.ClientConnectorError(req.connection_key, error) if req is not None else error
        return transport, protocol
