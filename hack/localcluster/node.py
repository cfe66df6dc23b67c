"""The node: containerd with runc, CNI bridge networking, the kubelet and kube-proxy.

Each is configured by a file written here, under .cluster/node/, and keeps its state there
(containerd's root and state, the kubelet's root and pod logs, CNI address allocations), so
nothing lands in /var/lib or /etc. What running pods leave on the host (processes in the
kubelet's cgroups, runc shims, overlay and tmpfs mounts, network namespaces) is found and
removed by `clear_pods`, which `down` calls after the kubelet and containerd have stopped.

Traps of this machine kind (../shared/real-node.md): root lacks CAP_SYS_RESOURCE, so
containerd must not raise oom_score_adj (`restrict_oom_score_adj`) and neither the kubelet
nor kube-proxy may set their own (`oomScoreAdj: 0`); the kubelet refuses cgroup v1 unless
told otherwise (`failCgroupV1: false`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from .processes import kill_all, processes_whose_cmdline_has, run, say
from .settings import (
    BRIDGE,
    CGROUP_ROOT,
    CLUSTER_DOMAIN,
    DNS_IP,
    KUBELET_HEALTHZ_PORT,
    KUBELET_PORT,
    MIRRORED_REGISTRIES,
    NODE_IP,
    NODE_NAME,
    NODE_STATE,
    PAUSE_IMAGE,
    PKI,
    POD_CIDR,
    PROXY_HEALTHZ_PORT,
    PROXY_METRICS_PORT,
    REGISTRY,
    SERVICE_CIDR,
    STATE,
)

CONTAINERD = NODE_STATE / "containerd"
CONTAINERD_SOCKET = NODE_STATE / "containerd.sock"
CONTAINERD_CONFIG = CONTAINERD / "config.toml"
REGISTRY_HOSTS = CONTAINERD / "certs.d"
CNI_CONF = NODE_STATE / "cni" / "net.d"
CNI_IPAM = NODE_STATE / "cni" / "ipam"
CNI_BIN = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
KUBELET_ROOT = NODE_STATE / "kubelet"
KUBELET_CONFIG = NODE_STATE / "kubelet.yaml"
POD_LOGS = NODE_STATE / "pod-logs"
PROXY_CONFIG = NODE_STATE / "kube-proxy.yaml"
CGROUPS = Path("/sys/fs/cgroup")
NETNS = Path("/run/netns")
SHIM_SOCKETS = Path("/run/containerd")  # containerd 1.6 keeps shim sockets here, whatever its state dir


def _write(path: Path, text: str) -> None:
    """Write only what changed: kube-proxy exits when its configuration file is written to."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_configs(kubeconfig: dict[str, Path]) -> None:
    for directory in (CONTAINERD, CNI_CONF, CNI_IPAM, KUBELET_ROOT, POD_LOGS):
        directory.mkdir(parents=True, exist_ok=True)
    _write_containerd_config()
    _write_cni_config()
    _write_kubelet_config()
    _write_proxy_config(kubeconfig["kube-proxy"])


def _write_containerd_config() -> None:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    _write(
        CONTAINERD_CONFIG,
        f"""# Written by hack/localcluster/node.py.
version = 2
root = "{CONTAINERD / "root"}"
state = "{CONTAINERD / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{CONTAINERD / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Root lacks CAP_SYS_RESOURCE here: never raise a container's oom_score_adj.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{CNI_CONF}"
  [{cri}.registry]
    config_path = "{REGISTRY_HOSTS}"
""",
    )
    # Every public registry name, and the local one, pull from the local registry over HTTP.
    for name in MIRRORED_REGISTRIES:
        directory = REGISTRY_HOSTS / name
        directory.mkdir(parents=True, exist_ok=True)
        _write(
            directory / "hosts.toml",
            f'server = "http://{REGISTRY}"\n\n'
            f'[host."http://{REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n',
        )


def _write_cni_config() -> None:
    conflist = {
        "cniVersion": "0.4.0",
        "name": "kubecanvas",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    # No default route: a pod reaches the bridge and the Service range, nothing else.
                    "routes": [{"dst": SERVICE_CIDR}],
                    "dataDir": str(CNI_IPAM),
                },
            }
        ],
    }
    _write(CNI_CONF / "10-kubecanvas.conflist", json.dumps(conflist, indent=2) + "\n")


def _write_kubelet_config() -> None:
    _write(
        KUBELET_CONFIG,
        f"""# Written by hack/localcluster/node.py.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: {KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {KUBELET_HEALTHZ_PORT}
tlsCertFile: {PKI / "kubelet-serving.crt"}
tlsPrivateKeyFile: {PKI / "kubelet-serving.key"}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {PKI / "ca.crt"}}}
authorization: {{mode: Webhook}}
containerRuntimeEndpoint: unix://{CONTAINERD_SOCKET}
cgroupDriver: cgroupfs
cgroupRoot: /{CGROUP_ROOT}
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
clusterDNS: [{DNS_IP}]
clusterDomain: {CLUSTER_DOMAIN}
podLogsDir: {POD_LOGS}
serializeImagePulls: false
maxPods: 250
# A disk or memory that is merely busy must not evict the tests' pods.
evictionHard: {{memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
""",
    )


def _write_proxy_config(kubeconfig: Path) -> None:
    _write(
        PROXY_CONFIG,
        f"""# Written by hack/localcluster/node.py.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {kubeconfig}}}
hostnameOverride: {NODE_NAME}
mode: iptables
clusterCIDR: {POD_CIDR}
bindAddress: {NODE_IP}
healthzBindAddress: 127.0.0.1:{PROXY_HEALTHZ_PORT}
metricsBindAddress: 127.0.0.1:{PROXY_METRICS_PORT}
nodePortAddresses: ["{NODE_IP}/32"]
oomScoreAdj: 0
iptables: {{localhostNodePorts: false}}
# Zero: leave the host's conntrack sysctls as they are.
conntrack: {{maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
""",
    )


def kubelet_argv(binary: str, kubeconfig: Path) -> list[str]:
    return [
        binary, "--config", str(KUBELET_CONFIG), "--kubeconfig", str(kubeconfig),
        "--root-dir", str(KUBELET_ROOT), "--hostname-override", NODE_NAME, "--node-ip", NODE_IP,
    ]  # fmt: skip


def containerd_argv() -> list[str]:
    return ["containerd", "--config", str(CONTAINERD_CONFIG), "--log-level", "warn"]


def proxy_argv(binary: str) -> list[str]:
    return [binary, "--config", str(PROXY_CONFIG)]


def containerd_ready() -> bool:
    return (
        CONTAINERD_SOCKET.exists()
        and run("ctr", "--address", str(CONTAINERD_SOCKET), "version", check=False).returncode == 0
    )


def ensure_cgroup_root() -> None:
    """The kubelet's cgroupRoot, in every hierarchy: it puts pods under it but will not make it.

    A new cpuset cgroup starts with no CPUs and no memory nodes; it gets its parent's.
    """
    for hierarchy in _hierarchies():
        top = hierarchy / CGROUP_ROOT
        top.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (top / name).exists() and not (top / name).read_text().strip():
                (top / name).write_text((hierarchy / name).read_text())


def _hierarchies() -> list[Path]:
    """The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, and unified)."""
    mounted = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        kind = fields[fields.index("-") + 1]
        point = Path(fields[4])
        if (kind in ("cgroup", "cgroup2") and point.parent == CGROUPS) or (
            point == CGROUPS and kind == "cgroup2"
        ):
            mounted.append(point)
    return mounted


# --- What pods leave behind ------------------------------------------------------------------


def _our_cgroups() -> list[Path]:
    """Every cgroup directory under the kubelet's root, deepest first, in every hierarchy."""
    found: list[Path] = []
    for hierarchy in _hierarchies():
        top = hierarchy / CGROUP_ROOT
        if top.is_dir():
            found.extend(Path(path) for path, _, _ in os.walk(top))
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def _pids_in(cgroups: list[Path]) -> list[int]:
    pids: set[int] = set()
    for cgroup in cgroups:
        try:
            pids.update(int(line) for line in (cgroup / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return sorted(pids)


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")  # \040 and the like
        points.append(point)
    return points


def clear_pods() -> None:
    """Kill pod processes and shims, unmount what they mounted, remove their cgroups and netns.

    Called with the kubelet and containerd stopped. Shims are ours when their command line
    names our containerd socket; network namespaces when containerd's CRI named them cni-*
    (no other containerd runs on these machines: see docs/local-cluster.md).
    """
    kill_all(_pids_in(_our_cgroups()), "pod process")
    kill_all(list(processes_whose_cmdline_has(str(CONTAINERD_SOCKET))), "containerd shim")
    ours = [p for p in _mount_points() if p.startswith(str(STATE) + "/") or p.startswith(f"{NETNS}/cni-")]
    for point in sorted(set(ours), key=len, reverse=True):
        run("umount", "-l", point, check=False)
    if ours:
        say(f"unmounted {len(set(ours))} mounts of pods and images")
    for namespace in NETNS.glob("cni-*") if NETNS.exists() else []:
        namespace.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # containerd made it; gone when no one else uses it
        NETNS.rmdir()
    for cgroup in _our_cgroups():
        try:
            cgroup.rmdir()
        except OSError as error:
            say(f"could not remove cgroup {cgroup}: {error}")
    if SHIM_SOCKETS.exists() and not any(processes_whose_cmdline_has("containerd")):
        shutil.rmtree(SHIM_SOCKETS, ignore_errors=True)
