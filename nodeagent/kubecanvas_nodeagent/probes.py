"""Readiness, liveness and startup probes: their parsing, their checks and their thresholds.

Parsing and the threshold bookkeeping are pure (unit-tested); the HTTP and TCP checks talk to
the container over loopback, where every pod listens; exec checks are run by the caller, which
knows how to enter the container.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubecanvas_nodeagent.kubetypes import Container, Probe


class ProbeError(ValueError):
    """A probe spec the agent cannot run."""


@dataclass(frozen=True)
class HttpCheck:
    scheme: str
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TcpCheck:
    host: str
    port: int


@dataclass(frozen=True)
class ExecCheck:
    command: tuple[str, ...]


Check = HttpCheck | TcpCheck | ExecCheck


@dataclass(frozen=True)
class ProbeSpec:
    check: Check
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3


def resolve_port(port: int | str, container: Container) -> int:
    """A probe port is a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared.get("containerPort", 0))
    raise ProbeError(f"port {port!r} is not a named port of container {container.get('name')!r}")


def parse_probe(probe: Probe, container: Container, pod_ip: str) -> ProbeSpec:
    """Turn a Probe into a check plus timings, with the API's defaults."""
    check: Check
    if "httpGet" in probe:
        get = probe["httpGet"]
        check = HttpCheck(
            scheme=get.get("scheme", "HTTP").lower(),
            host=get.get("host") or pod_ip,
            port=resolve_port(get.get("port", 0), container),
            path=get.get("path") or "/",
            headers=tuple((h.get("name", ""), h.get("value", "")) for h in get.get("httpHeaders", [])),
        )
    elif "tcpSocket" in probe:
        tcp = probe["tcpSocket"]
        check = TcpCheck(host=tcp.get("host") or pod_ip, port=resolve_port(tcp.get("port", 0), container))
    elif "exec" in probe:
        command = tuple(probe["exec"].get("command", []))
        if not command:
            raise ProbeError("exec probe without a command")
        check = ExecCheck(command)
    else:
        raise ProbeError(f"unsupported probe handler {sorted(set(probe) & {'grpc'}) or 'none'}")
    return ProbeSpec(
        check=check,
        initial_delay=probe.get("initialDelaySeconds", 0),
        period=probe.get("periodSeconds", 10),
        timeout=probe.get("timeoutSeconds", 1),
        success_threshold=probe.get("successThreshold", 1),
        failure_threshold=probe.get("failureThreshold", 3),
    )


class Thresholds:
    """Consecutive results to a verdict: flips after successThreshold or failureThreshold in a row."""

    def __init__(self, spec: ProbeSpec, initial: bool | None) -> None:
        self._spec = spec
        self.verdict = initial
        self._streak = 0
        self._last: bool | None = None

    def record(self, ok: bool) -> bool:
        """Count one result; return True when the verdict changed."""
        self._streak = self._streak + 1 if ok == self._last else 1
        self._last = ok
        needed = self._spec.success_threshold if ok else self._spec.failure_threshold
        if self._streak >= needed and self.verdict != ok:
            self.verdict = ok
            return True
        return False


async def http_check(check: HttpCheck, timeout: float) -> tuple[bool, str]:
    """GET the URL; 200-399 is success, as for the kubelet. HTTPS is not verified (nor is it there)."""
    context = None
    if check.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(check.host, check.port, ssl=context)
            try:
                headers = {
                    "Host": f"{check.host}:{check.port}",
                    "User-Agent": "kube-probe/1.37",
                    "Accept": "*/*",
                }
                headers.update(dict(check.headers))
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                writer.write(f"GET {check.path} HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError, ssl.SSLError) as error:
        return False, f"Get {check.scheme}://{check.host}:{check.port}{check.path}: {error or 'timeout'}"
    parts = status_line.split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return 200 <= code < 400, f"HTTP probe failed with statuscode: {code}"


async def tcp_check(check: TcpCheck, timeout: float) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(check.host, check.port)
            writer.close()
    except (OSError, TimeoutError) as error:
        return False, f"dial tcp {check.host}:{check.port}: {error or 'timeout'}"
    return True, ""


ExecRunner = Callable[[tuple[str, ...], float], Awaitable[tuple[bool, str]]]


async def run_check(check: Check, timeout: float, run_exec: ExecRunner) -> tuple[bool, str]:
    if isinstance(check, HttpCheck):
        return await http_check(check, timeout)
    if isinstance(check, TcpCheck):
        return await tcp_check(check, timeout)
    return await run_exec(check.command, timeout)


async def probe_loop(
    spec: ProbeSpec,
    initial: bool | None,
    run_exec: ExecRunner,
    on_change: Callable[[bool, str], None],
) -> None:
    """Probe every period until cancelled, reporting each change of verdict."""
    await asyncio.sleep(spec.initial_delay)
    thresholds = Thresholds(spec, initial)
    while True:
        ok, detail = await run_check(spec.check, spec.timeout, run_exec)
        if thresholds.record(ok):
            on_change(ok, detail)
        await asyncio.sleep(spec.period)
