"""What the node itself records about each pod, finer than the API's whole seconds.

The API gives a pod's conditions and its container's `startedAt` to the second only. The
node keeps finer records, all on this host's clock (the same clock as the harness's watch
receipts and the runtime's own times):

- the kubelet's log (klog, microseconds): `"Pod update broadcasted" ... type="ADDED"` is the
  kubelet's first status for a pod, computed when it starts syncing it (the kubelet runs at
  its default verbosity here, which does not log `SyncLoop ADD`, `RunPodSandbox` or
  `StartContainer`);
- the kubelet's pod log directory, by its birth time (statx): the kubelet makes it right
  before it calls `RunPodSandbox`, once the pod's volumes are mounted;
- containerd's CRI records on disk (nanoseconds): `sandboxes/<id>/hostname`, written when
  `RunPodSandbox` has created the pause container's record and snapshot, just before the
  network namespace and CNI; and each container's `containers/<id>/status` with its
  `CreatedAt`, `StartedAt` and `FinishedAt`;
- containerd's log (nanoseconds; it runs at `warn`, but the shim's own start-up lines come
  through): `"starting signal loop" ... path=.../<sandbox id>` is the pod's shim starting,
  i.e. CNI is done and the pause container's task is being created;
- the kubelet's pod directory: `pods/<uid>/etc-hosts` is written while the kubelet builds the
  first container's configuration, after `RunPodSandbox` returned (the sandbox is up).

A file's times come from the kernel's coarse clock: they can be up to a scheduler tick
(4 ms here) early, so a segment between two of them, or one of them and a log line, is
good to a few milliseconds, not better.

containerd's records and the kubelet's pod directory last until the pod is deleted (the
operator deletes a succeeded task's Job 30 s after it finished), so they are read as soon as
the harness sees a pod finish, in a thread of their own so that the watches' receipt times
stay exact; the logs are read once after the run, from where they ended when it started.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CriContainer", "LogTail", "NodePaths", "NodeReader", "NodeTimes", "cri_container"]


@dataclass(frozen=True)
class NodePaths:
    """Where the local cluster's node keeps its records (see hack/localcluster/node.py)."""

    containerd_root: Path
    containerd_state: Path
    containerd_socket: str
    kubelet_root: Path
    pod_logs: Path  # the kubelet's podLogsDir
    kubelet_log: Path
    containerd_log: Path
    cgroup_root: str  # the kubelet's cgroupRoot, without slashes ("kubecanvas")

    @classmethod
    def of(cls, state: Path) -> NodePaths:
        node = state / "node"
        config: dict[str, Any] = {}
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            config = tomllib.loads((node / "containerd" / "config.toml").read_text())
        kubelet: dict[str, Any] = {}
        with contextlib.suppress(OSError, yaml.YAMLError):
            kubelet = yaml.safe_load((node / "kubelet.yaml").read_text()) or {}
        return cls(
            containerd_root=Path(config.get("root") or node / "containerd" / "root"),
            containerd_state=Path(config.get("state") or node / "containerd" / "state"),
            containerd_socket=str((config.get("grpc") or {}).get("address") or node / "containerd.sock"),
            kubelet_root=_kubelet_root(state) or node / "kubelet",
            pod_logs=Path(kubelet.get("podLogsDir") or "/var/log/pods"),
            kubelet_log=state / "logs" / "kubelet.log",
            containerd_log=state / "logs" / "containerd.log",
            cgroup_root=str(kubelet.get("cgroupRoot") or "/kubecanvas").strip("/"),
        )

    @property
    def cri(self) -> Path:
        return self.containerd_root / "io.containerd.grpc.v1.cri"

    def kubepods_cgroup(self, controller: str) -> Path | None:
        """The cgroup every pod is under (cgroup v1 `controller`, or the unified hierarchy)."""
        for base in (Path("/sys/fs/cgroup") / controller, Path("/sys/fs/cgroup")):
            path = base / self.cgroup_root / "kubepods"
            if path.is_dir():
                return path
        return None


def _kubelet_root(state: Path) -> Path | None:
    """The running kubelet's --root-dir, from its pid file and command line."""
    try:
        pid = int(json.loads((state / "pids" / "kubelet.pid").read_text())["pid"])
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError):
        return None
    for index, argument in enumerate(arguments):
        if argument == b"--root-dir" and index + 1 < len(arguments):
            return Path(arguments[index + 1].decode())
        if argument.startswith(b"--root-dir="):
            return Path(argument.split(b"=", 1)[1].decode())
    return None


# ------------------------------------------------------------------ birth times


class _StatxTimestamp(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32), ("reserved", ctypes.c_int32))


class _Statx(ctypes.Structure):
    _fields_ = (
        ("stx_mask", ctypes.c_uint32),
        ("stx_blksize", ctypes.c_uint32),
        ("stx_attributes", ctypes.c_uint64),
        ("stx_nlink", ctypes.c_uint32),
        ("stx_uid", ctypes.c_uint32),
        ("stx_gid", ctypes.c_uint32),
        ("stx_mode", ctypes.c_uint16),
        ("spare0", ctypes.c_uint16),
        ("stx_ino", ctypes.c_uint64),
        ("stx_size", ctypes.c_uint64),
        ("stx_blocks", ctypes.c_uint64),
        ("stx_attributes_mask", ctypes.c_uint64),
        ("stx_atime", _StatxTimestamp),
        ("stx_btime", _StatxTimestamp),
        ("stx_ctime", _StatxTimestamp),
        ("stx_mtime", _StatxTimestamp),
        # The rest of the kernel's 256 bytes (device numbers, mount id, ...), and room to spare.
        ("rest", ctypes.c_uint64 * 48),
    )


_AT_FDCWD = -100
_STATX_BTIME = 0x800
try:
    _statx: Any = ctypes.CDLL(None, use_errno=True).statx
except (OSError, AttributeError):  # no glibc statx (before 2.28)
    _statx = None


def birth_time(path: Path) -> float | None:
    """When a file or directory was created (statx's btime), if the filesystem records it."""
    if _statx is None:
        return None
    buffer = _Statx()
    if _statx(_AT_FDCWD, os.fsencode(path), 0, _STATX_BTIME, ctypes.byref(buffer)) != 0:
        return None
    if not buffer.stx_mask & _STATX_BTIME:
        return None
    return float(buffer.stx_btime.tv_sec) + float(buffer.stx_btime.tv_nsec) / 1e9


# ------------------------------------------------------------------ containerd's CRI records


@dataclass(frozen=True)
class CriContainer:
    created: float | None
    started: float | None
    finished: float | None
    exit_code: int | None


def cri_container(paths: NodePaths, container_id: str) -> CriContainer | None:
    """containerd's status record of a container (`containerd://<id>` or `<id>`)."""
    container_id = container_id.rsplit("/", 1)[-1]
    if not container_id:
        return None
    try:
        data = json.loads((paths.cri / "containers" / container_id / "status").read_text())
    except (OSError, ValueError):
        return None

    def seconds(key: str) -> float | None:
        value = data.get(key)
        return int(value) / 1e9 if isinstance(value, int) and value > 0 else None

    finished = seconds("FinishedAt")
    return CriContainer(
        seconds("CreatedAt"), seconds("StartedAt"), finished, data.get("ExitCode") if finished else None
    )


def _hostname(pod_name: str) -> str:
    """The hostname the kubelet gives a pod: its name, cut to 63 characters (as the kubelet does)."""
    return pod_name[:63].rstrip("-.") if len(pod_name) > 63 else pod_name


class SandboxIndex:
    """containerd's sandbox directories by pod: `hostname` holds the pod's name (its
    hostname) and `resolv.conf` its namespace (the first search domain)."""

    def __init__(self, paths: NodePaths) -> None:
        self.base = paths.cri / "sandboxes"
        self._read: set[str] = set()
        self._by_pod: dict[tuple[str, str], tuple[str, float]] = {}

    def lookup(self, namespace: str, pod_name: str) -> tuple[str, float] | None:
        """(sandbox id, when its files were written) of a pod's sandbox."""
        key = (namespace, _hostname(pod_name))
        if key not in self._by_pod:
            self._scan()
        return self._by_pod.get(key)

    def _scan(self) -> None:
        try:
            entries = os.listdir(self.base)
        except OSError:
            return
        for sandbox in entries:
            if sandbox in self._read:
                continue
            directory = self.base / sandbox
            try:
                hostname = (directory / "hostname").read_text().strip()
                resolv = (directory / "resolv.conf").read_text()
                written = (directory / "hostname").stat().st_mtime_ns / 1e9
            except OSError:
                continue  # being written, or already gone: try again next time
            self._read.add(sandbox)
            namespace = _namespace_of(resolv)
            if namespace and hostname:
                self._by_pod[(namespace, hostname)] = (sandbox, written)


def _namespace_of(resolv: str) -> str | None:
    for line in resolv.splitlines():
        words = line.split()
        if words[:1] == ["search"] and len(words) > 1 and ".svc." in words[1]:
            return words[1].split(".svc.", 1)[0]
    return None


# ------------------------------------------------------------------ logs


@dataclass
class LogTail:
    """A log read from where it ended when this object was made."""

    path: Path
    offset: int = -1

    def __post_init__(self) -> None:
        if self.offset < 0:
            try:
                self.offset = self.path.stat().st_size
            except OSError:
                self.offset = 0

    def lines(self) -> Iterator[str]:
        try:
            size = self.path.stat().st_size
            with self.path.open("rb") as handle:
                handle.seek(self.offset if size >= self.offset else 0)  # truncated: a restart
                for raw in handle:
                    yield raw.decode(errors="replace")
        except OSError:
            return


# I1203 21:28:47.584089    3383 server.go:177] "Pod update broadcasted" podUID="..." type="ADDED"
_KUBELET_ADDED = re.compile(
    r'^I(?P<month>\d\d)(?P<day>\d\d) (?P<clock>\d\d:\d\d:\d\d\.\d+)\s+\d+ \S+\] "Pod update broadcasted" '
    r'podUID="(?P<uid>[^"]+)" type="ADDED"'
)
# time="2026-12-03T21:34:12.804850673Z" level=info msg="starting signal loop" namespace=k8s.io
#   path=.../<sandbox id> pid=...
_SHIM_START = re.compile(
    r'^time="(?P<stamp>[^"]+)" level=\w+ msg="starting signal loop" namespace=k8s\.io '
    r"path=\S*/(?P<id>[0-9a-f]{64})\b"
)


def klog_time(month: str, day: str, clock: str, now: float | None = None) -> float:
    """A klog stamp (local time, no year) as epoch seconds: the year that puts it closest
    before `now`."""
    now = time.time() if now is None else now
    year = datetime.fromtimestamp(now).year
    stamp = datetime.strptime(f"{year}{month}{day} {clock[:15]}", "%Y%m%d %H:%M:%S.%f").timestamp()
    if stamp > now + 86400:
        stamp = datetime.strptime(f"{year - 1}{month}{day} {clock[:15]}", "%Y%m%d %H:%M:%S.%f").timestamp()
    return stamp


def logrus_time(text: str) -> float:
    """containerd's `time="2026-12-03T21:34:12.804850673Z"` (UTC, nanoseconds) as epoch seconds."""
    head = text.rstrip("Z")
    if "." in head:
        whole, fraction = head.split(".", 1)
        head = f"{whole}.{fraction[:6]}"
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()


def kubelet_first_status(tail: LogTail) -> dict[str, float]:
    """Pod UID -> when the kubelet first computed its status (began syncing it)."""
    found: dict[str, float] = {}
    now = time.time()
    for line in tail.lines():
        if "Pod update broadcasted" not in line:
            continue
        match = _KUBELET_ADDED.match(line)
        if match is not None and match["uid"] not in found:
            found[match["uid"]] = klog_time(match["month"], match["day"], match["clock"], now)
    return found


def shim_starts(tail: LogTail) -> dict[str, float]:
    """Sandbox ID -> when its shim started (containerd creating the pause container's task)."""
    found: dict[str, float] = {}
    for line in tail.lines():
        if "starting signal loop" not in line:
            continue
        match = _SHIM_START.match(line)
        if match is not None and match["id"] not in found:
            with contextlib.suppress(ValueError):
                found[match["id"]] = logrus_time(match["stamp"])
    return found


# ------------------------------------------------------------------ per pod


@dataclass
class NodeTimes:
    """One pod's node-side times (epoch seconds; None when the record was not found)."""

    kubelet_status: float | None = None  # kubelet.log: its first status for the pod
    log_dir: float | None = None  # the kubelet made the pod's log directory (volumes mounted)
    sandbox_created: float | None = None  # CRI sandboxes/<id>/hostname written
    shim_started: float | None = None  # containerd.log: the pod's shim started (after CNI)
    container_config: float | None = None  # the kubelet wrote pods/<uid>/etc-hosts
    created: float | None = None  # CRI: the task container created
    started: float | None = None  # CRI: its process started
    finished: float | None = None  # CRI: its process exited
    exit_code: int | None = None
    sandbox_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value not in (None, "")}


@dataclass(eq=False)
class NodeReader:
    """Reads the node's records of the pods it is given, off the watch threads."""

    paths: NodePaths
    kubelet_log: LogTail = field(init=False)
    containerd_log: LogTail = field(init=False)
    sandboxes: SandboxIndex = field(init=False)
    _queue: queue.Queue[tuple[str, str, str, str, Callable[[NodeTimes], None]] | None] = field(
        default_factory=queue.Queue
    )
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kubelet_log = LogTail(self.paths.kubelet_log)
        self.containerd_log = LogTail(self.paths.containerd_log)
        self.sandboxes = SandboxIndex(self.paths)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="node-records", daemon=True)
        self._thread.start()

    def submit(
        self, namespace: str, name: str, uid: str, container_id: str, store: Callable[[NodeTimes], None]
    ) -> None:
        """Read a (finished) pod's records soon; `store` receives them."""
        self._queue.put((namespace, name, uid, container_id, store))

    def read(self, namespace: str, name: str, uid: str, container_id: str) -> NodeTimes:
        times = NodeTimes()
        container = cri_container(self.paths, container_id) if container_id else None
        if container is not None:
            times.created, times.started, times.finished = (
                container.created,
                container.started,
                container.finished,
            )
            times.exit_code = container.exit_code
        sandbox = self.sandboxes.lookup(namespace, name)
        if sandbox is not None:
            times.sandbox_id, times.sandbox_created = sandbox
        pod_dir = self.paths.kubelet_root / "pods" / uid
        with contextlib.suppress(OSError):
            times.container_config = (pod_dir / "etc-hosts").stat().st_mtime_ns / 1e9
        times.log_dir = birth_time(self.paths.pod_logs / f"{namespace}_{name}_{uid}")
        return times

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            namespace, name, uid, container_id, store = item
            try:
                store(self.read(namespace, name, uid, container_id))
            except Exception as error:  # noqa: BLE001 - a missing record must not stop the others
                self.errors.append(f"{namespace}/{name}: {type(error).__name__}: {error}")

    def stop(self) -> None:
        """Finish what was submitted."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(60)

    def log_times(self) -> tuple[dict[str, float], dict[str, float]]:
        """(pod UID -> the kubelet's first status, sandbox ID -> its shim's start) since this
        reader was made."""
        return kubelet_first_status(self.kubelet_log), shim_starts(self.containerd_log)
