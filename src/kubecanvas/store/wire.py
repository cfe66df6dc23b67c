"""A minimal synchronous Redis client (RESP2) for task pods.

Why not redis-py here: its package imports its asyncio client, observability hooks and
more on `import redis`, about 150 ms on a small node, and every hop of a chain pays it
in a fresh task pod. A task needs a handful of commands, pipelined: this client speaks
exactly that much of the protocol. The operator, which lives long, uses redis-py.

Connection errors are retried with exponential backoff (a Redis restart must not fail
every task); the commands the runtime sends are safe to repeat.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

from kubecanvas.errors import StoreConnectionError, StoreReplyError

__all__ = ["Command", "Connection", "Reply"]

Reply: TypeAlias = "str | int | list[Reply] | StoreReplyError | None"
Command: TypeAlias = Sequence[str | int | float]


@dataclass(frozen=True, slots=True)
class Address:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket
    tls: bool = False
    username: str | None = None
    password: str | None = None
    db: int = 0

    @classmethod
    def from_url(cls, url: str, password: str | None = None, username: str | None = None) -> Address:
        """`redis://[user[:password]@]host[:port][/db]`, `rediss://` (TLS) or `unix:///path?db=N`;
        `password` and `username`, when given, win over the URL's."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL: {url!r} (expected redis://, rediss:// or unix://)")
        query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
        database = parts.path.lstrip("/") if parts.scheme != "unix" else query.get("db", "0")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            tls=parts.scheme == "rediss",
            username=username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            db=int(database or 0),
        )


class Connection:
    """One connection, opened lazily, reopened (with backoff) when it breaks."""

    def __init__(self, address: Address, *, timeout: float = 10.0, retry_for: float = 30.0) -> None:
        """`retry_for`: how long connection errors are retried (with backoff) before giving up."""
        self.address = address
        self.timeout = timeout
        self.retry_for = retry_for
        self._socket: socket.socket | None = None
        self._buffer = b""

    @classmethod
    def from_url(
        cls, url: str, password: str | None = None, *, username: str | None = None, **options: float
    ) -> Connection:
        return cls(Address.from_url(url, password, username), **options)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket, self._buffer = None, b""

    def execute(self, *command: str | int | float) -> Reply:
        """One command; raises StoreReplyError if Redis refuses it."""
        reply = self.pipeline([command])[0]
        if isinstance(reply, StoreReplyError):
            raise reply
        return reply

    def pipeline(self, commands: Sequence[Command], *, transaction: bool = False) -> list[Reply]:
        """Send all commands in one write and read every reply; with `transaction`, wrap
        them in MULTI/EXEC so they apply all together. Errors come back as values."""
        batch = [("MULTI",), *commands, ("EXEC",)] if transaction else list(commands)
        payload = b"".join(_encode(command) for command in batch)
        delay, give_up_at, attempt = 0.05, time.monotonic() + self.retry_for, 0
        while True:
            attempt += 1
            try:
                sock = self._connected()
                sock.sendall(payload)
                replies = [self._read() for _ in batch]
                break
            except OSError as error:
                self.close()
                if time.monotonic() + delay > give_up_at:
                    where = self.address.path or f"{self.address.host}:{self.address.port}"
                    raise StoreConnectionError(
                        f"Redis at {where}: {error} (after {attempt} attempts in {self.retry_for:g}s)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if not transaction:
            return replies
        executed = replies[-1]
        if isinstance(executed, StoreReplyError):
            raise executed
        if executed is None:
            raise StoreReplyError("transaction aborted")
        assert isinstance(executed, list)
        return executed

    def _connected(self) -> socket.socket:
        if self._socket is not None:
            return self._socket
        address = self.address
        if address.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(address.path)
        else:
            sock = socket.create_connection((address.host, address.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if address.tls:
                import ssl  # only for rediss://: most pods never pay for it

                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=address.host)
        self._socket, self._buffer = sock, b""
        handshake: list[Command] = []
        if address.password:
            credentials = (address.username, address.password) if address.username else (address.password,)
            handshake.append(("AUTH", *credentials))
        if address.db:
            handshake.append(("SELECT", address.db))
        if handshake:
            sock.sendall(b"".join(_encode(command) for command in handshake))
            for _ in handshake:
                reply = self._read()
                if isinstance(reply, StoreReplyError):
                    self.close()
                    raise reply
        return sock

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._fill()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size + 2:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size + 2 :]
        return data

    def _fill(self) -> None:
        assert self._socket is not None
        chunk = self._socket.recv(65536)
        if not chunk:
            raise ConnectionResetError("Redis closed the connection")
        self._buffer += chunk

    def _read(self) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return StoreReplyError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size).decode()
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise StoreConnectionError(f"unexpected reply from Redis: {line[:40]!r}")


def _encode(command: Command) -> bytes:
    parts = [str(part).encode() for part in command]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)
