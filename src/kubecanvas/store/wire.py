"""A minimal synchronous Redis client (RESP2) for task pods.

Why not redis-py here: its package imports its asyncio client, observability hooks and
more on `import redis`, about 150 ms on a small node, and every hop of a chain pays it
in a fresh task pod. A task needs a handful of commands, pipelined: this client speaks
exactly that much of the protocol. The operator, which lives long, uses redis-py.

Connection errors are retried with exponential backoff (a Redis restart must not fail
every task); the commands the runtime sends are safe to repeat. So are refused credentials
(a restarted Redis has forgotten the workflow's user until the operator grants it again) and,
behind Redis Sentinel, a master that became a replica (a failover): the master is asked of
the Sentinels again.

    redis://[user[:password]@]host[:port][/db]      rediss:// for TLS; unix:///path?db=N
    redis+sentinel://[user[:password]@]sentinel[:port][,sentinel[:port]...]/master[/db]
                                                    rediss+sentinel:// for TLS to the master

A Redis whose TLS certificate a private CA signed: `?ssl_ca_certs=/path/ca.pem` in the URL
(redis-py's own name, so the operator and the CLI read the same URL), or the CA itself
(`ca`, PEM) where the file is not at hand: a task pod gets it in its environment.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias
from urllib.parse import SplitResult, unquote, urlsplit

from kubecanvas.errors import StoreConnectionError, StoreReplyError

__all__ = ["SENTINEL_PORT", "Address", "Command", "Connection", "Reply"]

SENTINEL_PORT = 26379
_SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}

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
    sentinels: tuple[tuple[str, int], ...] = ()  # ask these where the master is
    master: str = ""  # ... by this name
    ca_file: str | None = None  # the CA of a TLS certificate (the URL's `ssl_ca_certs`)
    ca: str | None = None  # ... or the CA itself, PEM (wins over `ca_file`)

    @classmethod
    def from_url(cls, url: str, password: str | None = None, username: str | None = None) -> Address:
        """An address from a URL of the module's docstring; `password` and `username`, when
        given, win over the URL's."""
        parts = urlsplit(url)
        query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
        ca_file = unquote(query["ssl_ca_certs"]) if query.get("ssl_ca_certs") else None
        if parts.scheme in _SENTINEL_SCHEMES:
            return cls._behind_sentinels(url, parts, password, username, ca_file)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"not a Redis URL: {url!r} (expected redis://, rediss://, unix:// or redis+sentinel://)"
            )
        database = parts.path.lstrip("/") if parts.scheme != "unix" else query.get("db", "0")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            tls=parts.scheme == "rediss",
            username=username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            db=int(database or 0),
            ca_file=ca_file,
        )

    @classmethod
    def _behind_sentinels(
        cls, url: str, parts: SplitResult, password: str | None, username: str | None, ca_file: str | None
    ) -> Address:
        credentials, _, hosts = parts.netloc.rpartition("@")
        user, _, secret = credentials.partition(":")
        sentinels = []
        for item in hosts.split(","):
            host, colon, port = item.rpartition(":")
            if not colon:
                host, port = item, ""
            if not host:
                raise ValueError(f"{url!r}: a Sentinel without a host")
            sentinels.append((host, int(port or SENTINEL_PORT)))
        segments = [unquote(segment) for segment in parts.path.split("/") if segment]
        if not segments:
            raise ValueError(f"{url!r}: name the master, as redis+sentinel://host:26379/<master>[/db]")
        return cls(
            host="",
            port=0,
            tls=_SENTINEL_SCHEMES[parts.scheme],
            username=username or (unquote(user) if user else None),
            password=password or (unquote(secret) if secret else None),
            db=int(segments[1]) if len(segments) > 1 else 0,
            sentinels=tuple(sentinels),
            master=segments[0],
            ca_file=ca_file,
        )

    @property
    def where(self) -> str:
        """Where this is, for messages (never with its password)."""
        if self.sentinels:
            return f"master {self.master!r} of Sentinels " + ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return self.path or f"{self.host}:{self.port}"


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
        cls,
        url: str,
        password: str | None = None,
        *,
        username: str | None = None,
        ca: str | None = None,
        **options: float,
    ) -> Connection:
        return cls(replace(Address.from_url(url, password, username), ca=ca or None), **options)

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
                if self.address.sentinels and any(_read_only(reply) for reply in replies):
                    raise ConnectionResetError("the master it was given is a replica now (a failover)")
                waiting = next((reply for reply in replies if _not_serving_yet(reply)), None)
                if waiting is not None:  # up, not serving yet: nothing of the batch applied
                    raise ConnectionResetError(f"Redis does not serve yet: {waiting}")
                break
            except OSError as error:
                self.close()
                if time.monotonic() + delay > give_up_at:
                    if isinstance(error, _Refused):
                        raise StoreReplyError(
                            f"{error.reply} (Redis at {self.address.where}, "
                            f"{attempt} attempts in {self.retry_for:g}s)"
                        ) from None
                    raise StoreConnectionError(
                        f"Redis at {self.address.where}: {error} "
                        f"(after {attempt} attempts in {self.retry_for:g}s)"
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
            host, port = self._master() if address.sentinels else (address.host, address.port)
            sock = socket.create_connection((host, port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if address.tls:
                import ssl  # only for rediss://: most pods never pay for it

                context = ssl.create_default_context(
                    cafile=None if address.ca else address.ca_file, cadata=address.ca
                )
                sock = context.wrap_socket(sock, server_hostname=host)
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
                    if str(reply).startswith(("WRONGPASS", "NOAUTH")):
                        # Retried: a restarted Redis forgot the workflow's user until the
                        # operator grants it again (at most a reconcile interval away).
                        raise _Refused(reply)
                    raise reply
        return sock

    def _master(self) -> tuple[str, int]:
        """Where the master is now, as the first Sentinel that answers says."""
        said: list[str] = []
        for host, port in self.address.sentinels:
            sentinel = Connection(Address(host=host, port=port), timeout=self.timeout, retry_for=0)
            try:
                reply = sentinel.execute("SENTINEL", "get-master-addr-by-name", self.address.master)
            except (StoreConnectionError, StoreReplyError) as error:
                said.append(f"{host}:{port}: {error}")
                continue
            finally:
                sentinel.close()
            if isinstance(reply, list) and len(reply) == 2:
                return str(reply[0]), int(str(reply[1]))
            said.append(f"{host}:{port}: no master named {self.address.master!r}")
        raise ConnectionRefusedError("no Sentinel gave the master: " + "; ".join(said))

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


class _Refused(PermissionError):
    """Credentials refused: retried like a connection error, reported as Redis said it."""

    def __init__(self, reply: StoreReplyError) -> None:
        super().__init__(f"Redis refused the credentials: {reply}")
        self.reply = reply


_NOT_SERVING_YET = ("LOADING", "MASTERDOWN", "TRYAGAIN")


def _not_serving_yet(reply: Reply) -> bool:
    return isinstance(reply, StoreReplyError) and str(reply).startswith(_NOT_SERVING_YET)


def _read_only(reply: Reply) -> bool:
    return isinstance(reply, StoreReplyError) and str(reply).startswith("READONLY")


def _encode(command: Command) -> bytes:
    parts = [str(part).encode() for part in command]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)
