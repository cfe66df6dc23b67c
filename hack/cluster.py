#!/usr/bin/env python3
"""Start, stop and check kubecanvas' local single-node Kubernetes cluster.

    hack/cluster.py up       start whatever is not running, then wait until all of it is ready
    hack/cluster.py down     stop exactly what `up` started and wipe the cluster state
    hack/cluster.py status   exit 0 when every component is up and healthy, 1 otherwise

Processes: etcd, kube-apiserver, kube-controller-manager, redis-server and the kubecanvas node
agent (our kubelet stand-in, which also binds pods: no kube-scheduler runs). Everything lives
under .cluster/ (see docs/local-cluster.md). Standard library only, so `down` runs with any
python3, and the PKI is made with the openssl command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".bin"
VENV_BIN = ROOT / ".venv" / "bin"
STATE = ROOT / ".cluster"
PKI = STATE / "pki"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
ETCD_DATA = STATE / "etcd"
AGENT_STATE = STATE / "nodeagent"
KUBECONFIG = STATE / "kubeconfig"
NODE_NAME = os.environ.get("KUBECANVAS_NODE_NAME", "kubecanvas-node")


def _node_ip() -> str:
    """The address the node and every pod report: the host's primary IPv4 address.

    Not 127.0.0.1 when the host has another address, because the API server refuses
    loopback addresses in EndpointSlices: no Service (and no Service-based admission
    webhook) could ever reach a pod. KUBECANVAS_NODE_IP overrides the choice.
    """
    chosen = os.environ.get("KUBECANVAS_NODE_IP")
    if chosen:
        return chosen
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # A UDP "connect" sends nothing: it only asks the kernel which source address the
            # default route would use (198.51.100.1 is a documentation address, never contacted).
            probe.connect(("198.51.100.1", 9))
            address = str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
    return "127.0.0.1" if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104


NODE_IP = _node_ip()
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        sys.exit(f"{variable}={value!r} is not a TCP port")
    return int(value)


APISERVER_PORT = _port("KUBECANVAS_APISERVER_PORT", 16443)
ETCD_PORT = _port("KUBECANVAS_ETCD_PORT", 23790)
ETCD_PEER_PORT = _port("KUBECANVAS_ETCD_PEER_PORT", 23800)
KCM_PORT = _port("KUBECANVAS_KCM_PORT", 20257)
NODEAGENT_PORT = _port("KUBECANVAS_NODEAGENT_PORT", 20250)
REDIS_PORT = _port("KUBECANVAS_REDIS_PORT", 16379)
PORT_VARIABLES = {
    APISERVER_PORT: "KUBECANVAS_APISERVER_PORT",
    ETCD_PORT: "KUBECANVAS_ETCD_PORT",
    ETCD_PEER_PORT: "KUBECANVAS_ETCD_PEER_PORT",
    KCM_PORT: "KUBECANVAS_KCM_PORT",
    NODEAGENT_PORT: "KUBECANVAS_NODEAGENT_PORT",
    REDIS_PORT: "KUBECANVAS_REDIS_PORT",
}

# name -> (subject, SANs, usage); every certificate is signed by pki/ca.crt.
CERTIFICATES: dict[str, tuple[str, str, str]] = {
    "apiserver": (
        "/CN=kube-apiserver",
        f"IP:127.0.0.1,IP:{SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
        "serverAuth",
    ),
    "admin": ("/O=system:masters/CN=kubecanvas-admin", "", "clientAuth"),
    "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", "", "clientAuth"),
    "kube-controller-manager": ("/CN=system:kube-controller-manager", "", "clientAuth"),
    "kube-controller-manager-serving": (
        "/CN=kube-controller-manager",
        "IP:127.0.0.1,DNS:localhost",
        "serverAuth",
    ),
    "nodeagent": (f"/O=system:nodes/CN=system:node:{NODE_NAME}", "", "clientAuth"),
    "nodeagent-serving": (
        f"/CN={NODE_NAME}",
        f"IP:{NODE_IP},IP:127.0.0.1,DNS:localhost,DNS:{NODE_NAME}",
        "serverAuth",
    ),
}


class ClusterError(Exception):
    """A one-line reason `up` cannot go on, optionally with the log that explains it."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


_BEGAN = time.monotonic()


def say(message: str) -> None:
    print(f"[cluster {time.monotonic() - _BEGAN:4.1f}s] {message}", flush=True)


# --- PKI and kubeconfigs ---------------------------------------------------------------------


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _new_key(path: Path, algorithm: str = "EC") -> None:
    options = (
        ["-pkeyopt", "ec_paramgen_curve:P-256"] if algorithm == "EC" else ["-pkeyopt", "rsa_keygen_bits:2048"]
    )
    _openssl("genpkey", "-algorithm", algorithm, *options, "-out", str(path))
    path.chmod(0o600)


def ensure_pki() -> None:
    """Create the CA, the certificates and the service-account keys once; later runs reuse them."""
    wanted = ["ca.crt", "ca.key", "sa.key", "sa.pub"] + [
        f"{n}.{e}" for n in CERTIFICATES for e in ("crt", "key")
    ]
    spec = json.dumps(CERTIFICATES, sort_keys=True)  # a new node address needs new certificates
    stamp = PKI / "spec.json"
    if all((PKI / name).exists() for name in wanted) and stamp.exists() and stamp.read_text() == spec:
        return
    if shutil.which("openssl") is None:
        raise ClusterError("openssl not found: install the Debian package openssl")
    say("generating the cluster PKI in .cluster/pki")
    scratch = Path(tempfile.mkdtemp(prefix="pki.", dir=STATE))
    try:
        _new_key(scratch / "ca.key")
        _openssl(
            "req", "-x509", "-new", "-key", str(scratch / "ca.key"), "-subj", "/CN=kubecanvas-ca",
            "-days", "3650", "-out", str(scratch / "ca.crt"),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip
        for name, (subject, sans, usage) in CERTIFICATES.items():
            key, csr, crt, ext = (scratch / f"{name}.{e}" for e in ("key", "csr", "crt", "ext"))
            _new_key(key)
            _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
            extensions = [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                f"extendedKeyUsage={usage}",
            ]
            if sans:
                extensions.append(f"subjectAltName={sans}")
            ext.write_text("\n".join(extensions) + "\n")
            _openssl(
                "x509", "-req", "-in", str(csr),
                "-CA", str(scratch / "ca.crt"), "-CAkey", str(scratch / "ca.key"),
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "3650",
                "-extfile", str(ext), "-out", str(crt),
            )  # fmt: skip
            csr.unlink()
            ext.unlink()
        (scratch / "spec.json").write_text(spec)
        _new_key(scratch / "sa.key", "RSA")
        _openssl("pkey", "-in", str(scratch / "sa.key"), "-pubout", "-out", str(scratch / "sa.pub"))
        shutil.rmtree(PKI, ignore_errors=True)
        scratch.rename(PKI)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_kubeconfig(path: Path, user: str) -> None:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: kubecanvas
  cluster:
    server: https://127.0.0.1:{APISERVER_PORT}
    certificate-authority: {PKI / "ca.crt"}
contexts:
- name: kubecanvas
  context:
    cluster: kubecanvas
    user: {user}
    namespace: default
current-context: kubecanvas
users:
- name: {user}
  user:
    client-certificate: {PKI / f"{user}.crt"}
    client-key: {PKI / f"{user}.key"}
"""
    )
    path.chmod(0o600)


def write_files() -> None:
    for directory in (STATE, LOGS, PIDS, AGENT_STATE):
        directory.mkdir(parents=True, exist_ok=True)
    ensure_pki()
    write_kubeconfig(KUBECONFIG, "admin")
    write_kubeconfig(STATE / "kube-controller-manager.kubeconfig", "kube-controller-manager")
    write_kubeconfig(STATE / "nodeagent.kubeconfig", "nodeagent")
    (STATE / "env").write_text(
        f"""# Written by hack/cluster.py: `source .cluster/env` to talk to the local cluster.
export KUBECONFIG={KUBECONFIG}
export KUBECANVAS_REDIS_URL=redis://127.0.0.1:{REDIS_PORT}/0
export KUBECANVAS_APISERVER_PORT={APISERVER_PORT}
export KUBECANVAS_ETCD_PORT={ETCD_PORT}
export KUBECANVAS_ETCD_PEER_PORT={ETCD_PEER_PORT}
export KUBECANVAS_KCM_PORT={KCM_PORT}
export KUBECANVAS_NODEAGENT_PORT={NODEAGENT_PORT}
export KUBECANVAS_REDIS_PORT={REDIS_PORT}
export KUBECANVAS_NODE_NAME={NODE_NAME}
export KUBECANVAS_NODE_IP={NODE_IP}
"""
    )


# --- Health checks ---------------------------------------------------------------------------


def _tls(client: str | None = "admin") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    if client:
        context.load_cert_chain(str(PKI / f"{client}.crt"), str(PKI / f"{client}.key"))
    return context


def http_get(url: str, client: str | None = "admin", timeout: float = 2) -> tuple[int, bytes]:
    """GET a URL on loopback; (0, b"") when nothing answers."""
    context = _tls(client) if url.startswith("https") else None
    try:
        # S310: the URLs are built here from loopback addresses, never taken from input.
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ssl.SSLError):
        return 0, b""


def api(path: str) -> dict[str, Any] | None:
    status, body = http_get(f"https://127.0.0.1:{APISERVER_PORT}{path}")
    return json.loads(body) if status == 200 else None


def api_create(path: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"https://127.0.0.1:{APISERVER_PORT}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=_tls()):  # noqa: S310 - loopback URL
            pass
    except urllib.error.HTTPError as error:
        if error.code != 409:  # already there
            raise ClusterError(f"creating {path} failed: {error.code} {error.read()[:300]!r}") from error


def etcd_healthy() -> bool:
    status, body = http_get(f"http://127.0.0.1:{ETCD_PORT}/health")
    return status == 200 and b'"health":"true"' in body


def apiserver_ready() -> bool:
    return http_get(f"https://127.0.0.1:{APISERVER_PORT}/readyz")[0] == 200


def kcm_healthy() -> bool:
    return http_get(f"https://127.0.0.1:{KCM_PORT}/healthz", client=None)[0] == 200


def redis_healthy() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def node_ready() -> bool:
    if http_get(f"https://{NODE_IP}:{NODEAGENT_PORT}/healthz", client="apiserver-kubelet-client")[0] != 200:
        return False
    node = api(f"/api/v1/nodes/{NODE_NAME}")
    conditions = node.get("status", {}).get("conditions", []) if node else []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def default_namespace_ready() -> bool:
    return bool(
        api("/api/v1/namespaces/default/serviceaccounts/default")
        and api("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
    )


# --- Processes -------------------------------------------------------------------------------


@dataclass
class Component:
    name: str
    argv: list[str]
    healthy: Callable[[], bool]
    ports: list[int]
    missing: str  # what to tell the user when argv[0] does not exist
    env: dict[str, str] = field(default_factory=dict)
    grace: float = 10.0

    @property
    def pidfile(self) -> Path:
        return PIDS / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"


def _bin(name: str) -> str:
    return str(BIN / name)


def components() -> list[Component]:
    """Every process of the cluster, in start order."""
    pki = str(PKI)
    return [
        Component(
            "etcd",
            [
                _bin("etcd"), "--name", "kubecanvas", "--data-dir", str(ETCD_DATA),
                "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                "--initial-cluster", f"kubecanvas=http://127.0.0.1:{ETCD_PEER_PORT}",
                "--unsafe-no-fsync", "--log-level", "warn",
            ],
            etcd_healthy, [ETCD_PORT, ETCD_PEER_PORT], "etcd not built: run make tools",
        ),
        Component(
            "redis",
            [
                "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(STATE), "--daemonize", "no",
            ],
            redis_healthy, [REDIS_PORT], "redis-server not found: install the Debian package redis-server",
        ),
        Component(
            "kube-apiserver",
            [
                _bin("kube-apiserver"),
                "--etcd-servers", f"http://127.0.0.1:{ETCD_PORT}",
                "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                "--secure-port", str(APISERVER_PORT),
                "--tls-cert-file", f"{pki}/apiserver.crt", "--tls-private-key-file", f"{pki}/apiserver.key",
                "--client-ca-file", f"{pki}/ca.crt",
                "--authorization-mode", "RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file", f"{pki}/sa.pub",
                "--service-account-signing-key-file", f"{pki}/sa.key",
                "--service-cluster-ip-range", SERVICE_CIDR,
                # No kube-proxy: webhooks and aggregated APIs are called at endpoint IPs.
                "--enable-aggregator-routing=true",
                # The `kubernetes` Service cannot have a loopback endpoint; nothing needs one.
                "--endpoint-reconciler-type", "none",
                "--kubelet-client-certificate", f"{pki}/apiserver-kubelet-client.crt",
                "--kubelet-client-key", f"{pki}/apiserver-kubelet-client.key",
                "--kubelet-certificate-authority", f"{pki}/ca.crt",
                "--kubelet-preferred-address-types", "InternalIP,Hostname",
                "--allow-privileged=true",
                "--profiling=false",
            ],
            apiserver_ready, [APISERVER_PORT], "kube-apiserver not built: run make tools",
        ),
        Component(
            "kube-controller-manager",
            [
                _bin("kube-controller-manager"),
                "--kubeconfig", str(STATE / "kube-controller-manager.kubeconfig"),
                # No authentication/authorization kubeconfig: only /healthz is served, which is
                # always allowed, and kcm need not look up the API server's authentication config.
                "--bind-address", "127.0.0.1", "--secure-port", str(KCM_PORT),
                "--tls-cert-file", f"{pki}/kube-controller-manager-serving.crt",
                "--tls-private-key-file", f"{pki}/kube-controller-manager-serving.key",
                "--controllers", "*",
                "--use-service-account-credentials",
                "--root-ca-file", f"{pki}/ca.crt",
                "--service-account-private-key-file", f"{pki}/sa.key",
                "--cluster-signing-cert-file", f"{pki}/ca.crt", "--cluster-signing-key-file", f"{pki}/ca.key",
                "--service-cluster-ip-range", SERVICE_CIDR,
                "--leader-elect=false",
                "--profiling=false",
                # Each controller gets its own service account and token at startup: the default
                # client rate limit (20 qps) alone would add seconds to every `up`.
                "--kube-api-qps=500", "--kube-api-burst=1000",
            ],
            kcm_healthy, [KCM_PORT], "kube-controller-manager not built: run make tools",
        ),
        Component(
            "nodeagent",
            [
                str(VENV_BIN / "python"), "-m", "kubecanvas_nodeagent",
                "--kubeconfig", str(STATE / "nodeagent.kubeconfig"),
                "--node-name", NODE_NAME, "--address", NODE_IP, "--port", str(NODEAGENT_PORT),
                "--state-dir", str(AGENT_STATE),
                "--tls-cert-file", f"{pki}/nodeagent-serving.crt",
                "--tls-private-key-file", f"{pki}/nodeagent-serving.key",
                "--client-ca-file", f"{pki}/ca.crt",
            ],
            node_ready, [NODEAGENT_PORT], "the project venv is missing: run make venv",
            env={
                "PATH": os.pathsep.join([str(VENV_BIN), str(BIN), os.environ.get("PATH", "/usr/bin:/bin")]),
                "PYTHONUNBUFFERED": "1",
            },
            grace=20.0,
        ),
    ]  # fmt: skip


@dataclass(frozen=True)
class Record:
    """What a pid file holds: enough to tell our process from a later one that reused the pid."""

    pid: int
    start_ticks: int
    exe: str


def _proc_start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def _proc_exe(pid: int) -> str:
    """The executable a process runs (its command line is no proof: redis rewrites its own)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def running(component: Component) -> Record | None:
    """The recorded process if it is alive and still the one we started, else None."""
    try:
        data = json.loads(component.pidfile.read_text())
        record = Record(int(data["pid"]), int(data["start_ticks"]), str(data["exe"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _proc_start_ticks(record.pid) != record.start_ticks or _proc_exe(record.pid) != record.exe:
        return None
    return record


def start(component: Component) -> None:
    env = {**os.environ, **component.env}
    with component.log.open("wb") as log:
        process = subprocess.Popen(
            component.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # survives `make`, and never gets the terminal's Ctrl-C
        )
    ticks = _proc_start_ticks(process.pid)
    record = {"pid": process.pid, "start_ticks": ticks, "exe": _proc_exe(process.pid)}
    component.pidfile.write_text(json.dumps(record) + "\n")
    say(f"started {component.name} (pid {process.pid}, log .cluster/logs/{component.log.name})")


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, component: Component | None = None
) -> None:
    """Poll a readiness check until it passes; fail fast if the component's process died."""
    deadline = time.monotonic() + timeout
    while not check():
        if component is not None and running(component) is None:
            raise ClusterError(f"{component.name} exited during startup", component.log)
        if time.monotonic() > deadline:
            raise ClusterError(
                f"timed out after {timeout:.0f}s waiting for {what}", component.log if component else None
            )
        time.sleep(0.1)


def stop(component: Component) -> None:
    record = running(component)
    if record is not None:
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + component.grace
        while _proc_start_ticks(record.pid) == record.start_ticks and time.monotonic() < deadline:
            time.sleep(0.05)
        if _proc_start_ticks(record.pid) == record.start_ticks:
            say(f"{component.name} did not stop within {component.grace:.0f}s: killing it")
            os.kill(record.pid, signal.SIGKILL)
        say(f"stopped {component.name} (pid {record.pid})")
    component.pidfile.unlink(missing_ok=True)


def end_pod_processes() -> None:
    """Kill container processes the node agent recorded and left behind (if it died uncleanly).

    Each container runs in its own session, recorded with its leader's pid and start time in
    .cluster/nodeagent/pods/*/state.json. A live leader with another start time is not ours.
    """
    for record in AGENT_STATE.glob("pods/*/state.json"):
        try:
            sessions = json.loads(record.read_text()).get("sessions", {}).values()
        except (OSError, ValueError):
            continue
        for session in sessions:
            leader, ticks = int(session["pid"]), int(session["start_ticks"])
            if _proc_start_ticks(leader) not in (None, ticks):
                continue  # the pid now belongs to another process
            for pid in _session_members(leader):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    say(f"killed leftover pod process {pid}")


def _session_members(session: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[3] == str(session) and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def port_free(port: int) -> bool:
    """Free on every address: binding the wildcard fails while any address holds the port."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError:
            return False
    return True


# --- Commands --------------------------------------------------------------------------------


def bind_nodeagent_roles() -> None:
    """The agent is both kubelet and scheduler: grant it the built-in roles of both."""
    for role in ("system:node", "system:kube-scheduler"):
        api_create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"kubecanvas:nodeagent:{role.removeprefix('system:')}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": f"system:node:{NODE_NAME}",
                    }
                ],
            },
        )


def up() -> None:
    began = time.monotonic()
    write_files()
    parts = {c.name: c for c in components()}
    for component in parts.values():
        executable = component.argv[0]
        if not (os.path.exists(executable) or shutil.which(executable)):
            raise ClusterError(component.missing)
    if running(parts["etcd"]) is None:
        # Without etcd the cluster's state is gone: start everything from a clean slate.
        for component in reversed(parts.values()):
            stop(component)
        end_pod_processes()
        shutil.rmtree(ETCD_DATA, ignore_errors=True)
        shutil.rmtree(AGENT_STATE, ignore_errors=True)
        AGENT_STATE.mkdir(parents=True)
    for component in parts.values():
        if running(component) is not None:
            continue
        if busy := [port for port in component.ports if not port_free(port)]:
            raise ClusterError(
                f"port {busy[0]} needed by {component.name} is in use by another process "
                f"(set {PORT_VARIABLES[busy[0]]} to move it)"
            )

    def ensure(name: str) -> None:
        record = running(parts[name])
        if record is None:
            start(parts[name])
        else:
            say(f"{name} already running (pid {record.pid})")

    # At once: each waits for what it needs (the agent retries until its roles are bound).
    # Not kube-controller-manager: it gives up if the API server is not healthy within 10 s.
    for name in ("etcd", "redis", "kube-apiserver", "nodeagent"):
        ensure(name)
    wait_for("etcd /health", etcd_healthy, 30, parts["etcd"])
    wait_for("redis PING", redis_healthy, 15, parts["redis"])
    wait_for("kube-apiserver /readyz", apiserver_ready, 90, parts["kube-apiserver"])
    say("kube-apiserver ready")
    bind_nodeagent_roles()
    ensure("kube-controller-manager")
    wait_for("kube-controller-manager /healthz", kcm_healthy, 60, parts["kube-controller-manager"])
    wait_for(f"node {NODE_NAME} Ready", node_ready, 60, parts["nodeagent"])
    say(f"node {NODE_NAME} Ready")
    wait_for(
        "the default ServiceAccount and kube-root-ca.crt ConfigMap",
        default_namespace_ready,
        60,
        parts["kube-controller-manager"],
    )
    say(
        f"cluster up in {time.monotonic() - began:.1f}s: "
        f"export KUBECONFIG={KUBECONFIG} (or source .cluster/env)"
    )


def down() -> None:
    parts = components()
    for component in reversed(parts):
        stop(component)
    end_pod_processes()
    ports = [port for component in parts for port in component.ports]
    deadline = time.monotonic() + 15
    while (busy := [p for p in ports if not port_free(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if busy:
        raise ClusterError(f"ports still in use after stopping the cluster: {busy}")
    shutil.rmtree(ETCD_DATA, ignore_errors=True)
    shutil.rmtree(AGENT_STATE, ignore_errors=True)
    say("cluster down (PKI kept in .cluster/pki; etcd data wiped)")


def status() -> int:
    healthy = True
    for component in components():
        record = running(component)
        ok = record is not None and component.healthy()
        healthy = healthy and ok
        state = f"running (pid {record.pid})" if record else "not running"
        print(f"{component.name:24} {state}{'' if ok or not record else ', unhealthy'}")
    if healthy and not default_namespace_ready():
        print("default ServiceAccount or kube-root-ca.crt missing")
        healthy = False
    return 0 if healthy else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    try:
        if command == "up":
            up()
        elif command == "down":
            down()
        else:
            return status()
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        if error.log is not None and error.log.exists():
            tail = error.log.read_text(errors="replace").splitlines()[-20:]
            print(f"--- last lines of {error.log.relative_to(ROOT)}:", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
