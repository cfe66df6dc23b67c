"""A Redis that is up but still loading its data (a restart with an AOF) answers `-LOADING`
to every command: the task runtime waits it out within its budget, as for a Redis that is
down, and never reads the refusal as a value (the chaos suite's Redis restart made a task
fail with `TypeError: the JSON object must be str, ... not StoreReplyError`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from kubecanvas.errors import StoreConnectionError
from kubecanvas.store.wire import Connection

LOADING = b"-LOADING Redis is loading the dataset in memory\r\n"


@pytest.fixture
def loading_redis() -> Iterator[tuple[int, list[float]]]:
    """A server that answers LOADING until `until[0]` (monotonic), then `$-1` (a missing field)."""
    until = [time.monotonic() + 0.4]
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                commands = data.count(b"*")  # one array per command in these tests
                reply = LOADING if time.monotonic() < until[0] else b"$-1\r\n"
                conn.sendall(reply * commands)

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield port, until
    stop.set()
    thread.join()
    server.close()


def test_loading_is_waited_out(loading_redis: tuple[int, list[float]]) -> None:
    port, _ = loading_redis
    connection = Connection.from_url(f"redis://127.0.0.1:{port}/0", retry_for=5)
    assert connection.pipeline([("HGET", "k", "a"), ("HGET", "k", "b")]) == [None, None]


def test_loading_past_the_budget_is_a_connection_error_that_says_so(
    loading_redis: tuple[int, list[float]],
) -> None:
    port, until = loading_redis
    until[0] = time.monotonic() + 60
    connection = Connection.from_url(f"redis://127.0.0.1:{port}/0", retry_for=0.3)
    with pytest.raises(
        StoreConnectionError, match=r"LOADING Redis is loading the dataset.*attempts in 0\.3s"
    ):
        connection.pipeline([("HGET", "k", "a")])
