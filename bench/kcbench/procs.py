"""Processes the benchmark starts and watches: the operator, py-spy, a resource sampler."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kcbench.cluster import REPO

__all__ = [
    "PODS",
    "SHIMS",
    "ComponentLedger",
    "OperatorProcess",
    "ProcessSampler",
    "PySpy",
    "free_port",
    "load_average",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
VENV_BIN = REPO / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_average() -> str:
    """`uptime`'s line: the machine's load, recorded before and after."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (not its children), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass(eq=False)
class ProcessSampler:
    """RSS and CPU of one process every `interval` seconds, in a thread."""

    pid: int
    interval: float = 1.0
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (time, rss, cpu seconds)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._sample()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        rss, cpu = rss_bytes(self.pid), cpu_seconds(self.pid)
        if rss is not None and cpu is not None:
            self.samples.append((time.time(), rss, cpu))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._sample()
        return self.summary()

    def summary(self) -> dict[str, float]:
        if len(self.samples) < 2:
            return {}
        (t0, _, c0), (t1, _, c1) = self.samples[0], self.samples[-1]
        wall = max(t1 - t0, 1e-9)
        return {
            "peak_rss_mb": max(rss for _, rss, _ in self.samples) / 2**20,
            "start_rss_mb": self.samples[0][1] / 2**20,
            "end_rss_mb": self.samples[-1][1] / 2**20,
            "cpu_seconds": c1 - c0,
            "wall_seconds": wall,
            "mean_cpu_percent": 100 * (c1 - c0) / wall,
            "samples": float(len(self.samples)),
        }


@dataclass(eq=False)
class OperatorProcess:
    """`kubecanvas-operator` against the cluster, as `make operator` runs it, but watching
    only the benchmark's namespaces and reading task news from a stream of its own, so
    that it shares the cluster (and its Redis) with other operators, such as the e2e
    suite's (`t-*`) and the chart tests' (`c-*`), without either seeing the other's work.
    Task pods run `runtime_image` (`.cluster/images.env`) and reach Redis at `redis_url`
    (`.cluster/env`: the node's bridge address, which pods reach)."""

    kubeconfig: Path
    redis_url: str
    log_path: Path
    runtime_image: str
    namespaces: tuple[str, ...]  # names or glob patterns (--namespace)
    events_stream: str
    consumer_group: str
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    health_port: int = 0
    http_port: int = 0

    def start(self) -> None:
        self.health_port, self.http_port = free_port(), free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECANVAS_REDIS_URL": self.redis_url,
            "KUBECANVAS_RUNTIME_IMAGE": self.runtime_image,
            "KUBECANVAS_EVENTS_STREAM": self.events_stream,
            "KUBECANVAS_CONSUMER_GROUP": self.consumer_group,
            "KUBECANVAS_HTTP_PORT": str(self.http_port),
            "KUBECANVAS_HTTP_HOST": "127.0.0.1",
            **self.extra_env,
        }
        for inherited in ("KUBECANVAS_WATCH_NAMESPACES", "KUBECANVAS_TASK_REDIS_URL"):
            env.pop(inherited, None)  # the caller's shell must not widen what it watches
        command = [
            str(VENV_BIN / "kubecanvas-operator"),
            "--liveness",
            f"http://127.0.0.1:{self.health_port}/healthz",
        ]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while not self._get(f"http://127.0.0.1:{self.health_port}/healthz"):
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the operator did not become healthy; see {self.log_path}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @staticmethod
    def _get(url: str, timeout: float = 2) -> bytes | None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our loopback port
                body: bytes = response.read()
                return body
        except OSError:
            return None

    def metrics(self) -> str | None:
        """The Prometheus exposition, if the operator serves one on its HTTP port."""
        body = self._get(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5)
        return body.decode(errors="replace") if body is not None else None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass(eq=False)
class PySpy:
    """`py-spy record` attached to a running process for one scenario (folded stacks)."""

    pid: int
    output: Path
    rate: int = 10
    process: subprocess.Popen[bytes] | None = None
    sampler: ProcessSampler | None = None

    @staticmethod
    def available() -> str | None:
        binary = VENV_BIN / "py-spy"
        return str(binary) if binary.exists() else shutil.which("py-spy")

    def start(self) -> bool:
        binary = self.available()
        if binary is None:
            return False
        command = [
            binary,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--nonblocking",  # never pause the operator: sampling must not change what it measures
            "--output",
            str(self.output),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)
        if self.process.poll() is not None:
            return False
        self.sampler = ProcessSampler(self.process.pid)
        self.sampler.start()
        return True

    def stop(self) -> dict[str, float]:
        """Stop sampling (SIGINT makes py-spy write its file); py-spy's own CPU use."""
        own: dict[str, float] = {}
        if self.sampler is not None:
            own = self.sampler.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return own


def process_cpu(pid: int) -> tuple[float, float] | None:
    """(own, reaped children's) CPU seconds of a process: utime+stime, cutime+cstime."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return own, children


def machine_cpu() -> dict[str, float]:
    """The whole machine's CPU seconds so far, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return {
        "busy": (user + nice + system + irq + softirq) / CLOCK_TICKS,
        "idle": (idle + iowait) / CLOCK_TICKS,
        "steal": steal / CLOCK_TICKS,
    }


def settle(quiet_share: float = 0.5, window: float = 2.0, at_most: float = 180.0) -> dict[str, float]:
    """Wait until the machine is quiet (busy under `quiet_share` of its CPUs over `window`
    seconds), at most `at_most` seconds: a scenario must not start in the wake of the last one
    (500 pods being torn down kept 2 CPUs busy for minutes). Returns how long it waited and how
    busy the machine was over the last window, for the scenario's record."""
    started = time.monotonic()
    while True:
        before = machine_cpu()
        time.sleep(window)
        after = machine_cpu()
        busy = after["busy"] - before["busy"]
        total = busy + after["idle"] - before["idle"] + after["steal"] - before["steal"]
        share = busy / total if total else 0.0
        waited = time.monotonic() - started
        if share < quiet_share or waited >= at_most:
            return {"waited_seconds": round(waited, 1), "busy_share_before": round(share, 3)}


PODS = "pods (kubepods cgroup: every pod on the node)"
SHIMS = "containerd-shim-runc-v2 (every shim on the node)"


def cgroup_cpu(path: Path | None) -> float | None:
    """CPU seconds charged to a cgroup and its descendants, removed ones included."""
    if path is None:
        return None
    try:
        if (path / "cpuacct.usage").exists():  # cgroup v1
            return int((path / "cpuacct.usage").read_text()) / 1e9
        for line in (path / "cpu.stat").read_text().splitlines():  # the unified hierarchy
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
    except (OSError, ValueError):
        return None
    return None


def cgroup_rss(path: Path | None) -> int | None:
    """Resident anonymous memory of a cgroup and its descendants (bytes)."""
    if path is None:
        return None
    try:
        lines = (path / "memory.stat").read_text().splitlines()
    except OSError:
        return None
    for key in ("total_rss", "anon"):  # cgroup v1 (hierarchical), the unified hierarchy
        for line in lines:
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    return None


@dataclass(eq=False)
class ComponentLedger:
    """CPU seconds and peak RSS of each part of the system over one scenario.

    The cluster's processes (pids from `<cluster-dir>/pids/`), the operator and the
    benchmark itself are read at the start and the end (CPU) and every `interval` (RSS).
    Task pods are many short-lived processes: their CPU is the kubepods cgroup's
    (`cpuacct.usage` keeps what removed pods used), their memory its RSS. containerd's
    shims (one per pod, re-parented away from containerd) are found by their command line
    (`-address <our socket>`) every `interval`; a shim's CPU is its last sample, so up to
    `interval` of a shim's last moments can be missed. Pods and shims are the whole node's:
    other work on the shared cluster (e2e tests) is counted in them too."""

    pids: dict[str, int]
    kubepods_cpu: Path | None = None  # cgroup directories of the kubepods cgroup
    kubepods_memory: Path | None = None
    shim_address: str = ""
    interval: float = 0.5
    start: dict[str, float] = field(default_factory=dict)
    began: float = 0.0
    peak_rss: dict[str, int] = field(default_factory=dict)
    _shims: dict[int, list[float]] = field(default_factory=dict)  # pid -> [baseline, last] CPU s
    _not_shims: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _read(self) -> dict[str, float]:
        reading: dict[str, float] = {}
        for name, pid in self.pids.items():
            cpu = process_cpu(pid)
            if cpu is not None:
                reading[name] = cpu[0]
        pods = cgroup_cpu(self.kubepods_cpu)
        if pods is not None:
            reading[PODS] = pods
        for key, value in machine_cpu().items():
            reading[f"machine {key}"] = value
        return reading

    def _scan_shims(self, first: bool = False) -> int:
        """Sample every shim of our containerd; their summed RSS (bytes)."""
        if not self.shim_address:
            return 0
        marker = self.shim_address.encode()
        live: set[int] = set()
        rss_total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in self._not_shims:
                live.add(pid)
                continue
            if pid not in self._shims:
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"containerd-shim" not in command or marker not in command:
                    self._not_shims.add(pid)
                    live.add(pid)
                    continue
            cpu = process_cpu(pid)
            if cpu is None:
                continue
            live.add(pid)
            sample = self._shims.setdefault(pid, [cpu[0] if first else 0.0, cpu[0]])
            sample[1] = cpu[0]
            rss_total += rss_bytes(pid) or 0
        self._not_shims &= live  # a pid that went away may come back as a shim
        return rss_total

    def _sample(self, first: bool = False) -> None:
        for name, pid in self.pids.items():
            rss = rss_bytes(pid)
            if rss is not None:
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)
        shims = self._scan_shims(first)
        if self.shim_address:
            self.peak_rss[SHIMS] = max(self.peak_rss.get(SHIMS, 0), shims)
        pods = cgroup_rss(self.kubepods_memory)
        if pods is not None:
            self.peak_rss[PODS] = max(self.peak_rss.get(PODS, 0), pods)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def begin(self) -> None:
        self.began = time.time()
        self.start = self._read()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, name="component-ledger", daemon=True)
        self._thread.start()

    def end(self) -> tuple[dict[str, float], dict[str, float]]:
        """(CPU seconds by component, peak RSS in MB by component) since `begin`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._sample()
        now = self._read()
        spent = {name: round(now[name] - self.start[name], 2) for name in now if name in self.start}
        if self.shim_address:
            spent[SHIMS] = round(sum(last - baseline for baseline, last in self._shims.values()), 2)
            spent["shims seen"] = float(len(self._shims))
        spent["wall"] = round(time.time() - self.began, 2)
        rss = {name: round(value / 2**20, 1) for name, value in self.peak_rss.items()}
        return spent, rss
