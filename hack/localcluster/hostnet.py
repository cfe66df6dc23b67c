"""The host side of the pod network: a bridge, two sysctls and a guard in iptables.

`up` makes them; `down` undoes them and also removes the chains the kubelet and kube-proxy
add (KUBE-*), in iptables and ip6tables alike: the host keeps nothing of the cluster.

Pods have no default route (CNI gives them one to the Service range only), and the guard
drops anything that would still leave the bridge for another interface: traffic from a
pod reaches the host's own addresses on the bridge, other pods, and nothing else.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from .processes import ClusterError, run, say
from .settings import BRIDGE, HOST_RECORD, NODE_IP, POD_PREFIX

GUARD = "KUBECANVAS-GUARD"
OUR_CHAIN_PREFIXES = ("KUBE-", "KUBECANVAS-")
SYSCTLS = {
    # The host routes between pods and the Service addresses kube-proxy rewrites.
    "net/ipv4/ip_forward": "1",
    # Bridged pod-to-pod traffic passes iptables, so a Service's DNAT is undone on the reply.
    "net/bridge/bridge-nf-call-iptables": "1",
}


def _sysctl(name: str) -> Path:
    return Path("/proc/sys") / name


def set_sysctls() -> None:
    """Set what the node needs, recording what was there before (once: a second `up` keeps it)."""
    before = json.loads(HOST_RECORD.read_text()) if HOST_RECORD.exists() else {}
    for name, value in SYSCTLS.items():
        path = _sysctl(name)
        if not path.exists():
            raise ClusterError(f"/proc/sys/{name} is missing: the kernel lacks {name.split('/')[1]} support")
        current = path.read_text().strip()
        before.setdefault(name, current)
        if current != value:
            path.write_text(value)
    HOST_RECORD.write_text(json.dumps(before, indent=2) + "\n")


def restore_sysctls() -> None:
    if not HOST_RECORD.exists():
        return
    for name, value in json.loads(HOST_RECORD.read_text()).items():
        path = _sysctl(name)
        if path.exists() and path.read_text().strip() != value:
            path.write_text(value)
            say(f"restored {name.replace('/', '.')} = {value}")
    HOST_RECORD.unlink()


_ADDRESS_SET = "3"  # NET_ADDR_SET in /sys/class/net/*/addr_assign_type: the kernel leaves it


def bridge_exists() -> bool:
    return Path(f"/sys/class/net/{BRIDGE}").exists()


def bridge_mac() -> str:
    """A fixed, locally administered MAC for the bridge, from the node's address (0a:58 and the
    IPv4 octets, the convention of OpenShift's SDN)."""
    return "0a:58:" + ":".join(f"{int(octet):02x}" for octet in NODE_IP.split("."))


def ensure_bridge() -> None:
    """The pod bridge with the node's address, made before anything binds that address.

    Its MAC is set, never left to the kernel: a bridge with a random MAC takes the lowest MAC of
    its ports, so it changed each time a pod came or went, and pods that had the old one in their
    ARP cache lost the node (Redis, the API server) for up to ~45 s, until the entry expired. Task
    pods exited 75 ("could not reach Redis: timed out") under churn. An address set by hand stays.
    The CNI bridge plugin sets one only on a bridge it creates, not on one it adopts, as this one
    (kubernetes#30783, kubeadm-dind-cluster#144 met the same).
    """
    if not bridge_exists():
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        say(f"created bridge {BRIDGE} ({NODE_IP}/{POD_PREFIX})")
    if Path(f"/sys/class/net/{BRIDGE}/address").read_text().strip() != bridge_mac() or (
        Path(f"/sys/class/net/{BRIDGE}/addr_assign_type").read_text().strip() != _ADDRESS_SET
    ):
        run("ip", "link", "set", "dev", BRIDGE, "address", bridge_mac())
    addresses = run("ip", "-4", "-o", "addr", "show", "dev", BRIDGE).stdout
    if f" {NODE_IP}/" not in addresses:
        run("ip", "addr", "add", f"{NODE_IP}/{POD_PREFIX}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def delete_bridge() -> None:
    if bridge_exists():
        run("ip", "link", "del", BRIDGE)
        say(f"deleted bridge {BRIDGE}")


def ensure_guard() -> None:
    """Drop forwarded traffic between the pod bridge and any other interface."""
    if run("iptables", "-w", "-S", GUARD, check=False).returncode != 0:
        run("iptables", "-w", "-N", GUARD)
    run("iptables", "-w", "-F", GUARD)
    run("iptables", "-w", "-A", GUARD, "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP")
    run("iptables", "-w", "-A", GUARD, "!", "-i", BRIDGE, "-o", BRIDGE, "-j", "DROP")
    if run("iptables", "-w", "-C", "FORWARD", "-j", GUARD, check=False).returncode != 0:
        run("iptables", "-w", "-I", "FORWARD", "1", "-j", GUARD)


def _ours(chain: str) -> bool:
    return chain.startswith(OUR_CHAIN_PREFIXES)


def remove_chains() -> None:
    """Remove every KUBE-* and KUBECANVAS-* chain, and the rules that jump to them."""
    removed = 0
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            listing = run(tool, "-w", "-t", table, "-S", check=False)
            if listing.returncode != 0:
                continue
            rules = [shlex.split(line) for line in listing.stdout.splitlines()]
            chains = [rule[1] for rule in rules if rule[:1] == ["-N"] and _ours(rule[1])]
            for rule in rules:
                if (
                    rule[:1] == ["-A"]
                    and not _ours(rule[1])
                    and "-j" in rule
                    and _ours(rule[rule.index("-j") + 1])
                ):
                    run(tool, "-w", "-t", table, "-D", *rule[1:], check=False)
            for chain in chains:
                run(tool, "-w", "-t", table, "-F", chain, check=False)
            for chain in chains:
                if run(tool, "-w", "-t", table, "-X", chain, check=False).returncode == 0:
                    removed += 1
    if removed:
        say(f"removed {removed} iptables/ip6tables chains of the cluster")
