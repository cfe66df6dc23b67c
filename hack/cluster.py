#!/usr/bin/env python3
"""Start, stop and check kubecanvas' local single-node Kubernetes cluster: a real node.

    hack/cluster.py up       start whatever is not running, then wait until all of it is ready
    hack/cluster.py down     stop everything `up` started and undo what it did to the host
    hack/cluster.py status   exit 0 when every component is up and healthy, 1 otherwise

Processes on the host: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the
kubelet, kube-proxy, containerd (runc, CNI bridge), a local image registry and redis-server;
CoreDNS runs as a pod. Everything lives under .cluster/ (docs/local-cluster.md); the code is
in hack/localcluster/. Standard library only, so `down` runs with any python3.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localcluster.lifecycle import down, status, up
from localcluster.processes import ClusterError
from localcluster.settings import ROOT, STATE


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    if command != "status" and STATE.is_symlink():
        # A worktree sharing another checkout's cluster: its settings (paths under this
        # checkout) would rewrite that cluster's files (kube-proxy exits when its config
        # changes). Start and stop a cluster from the checkout that owns it.
        print(f"error: {STATE} is a link to {STATE.resolve()}: run `{command}` there", file=sys.stderr)
        return 1
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
            tail = error.log.read_text(errors="replace").splitlines()[-25:]
            print(f"--- last lines of {error.log.relative_to(ROOT)}:", file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
