"""kubecanvas' node agent: a stand-in for the kubelet, a container runtime and the scheduler.

It registers one Node, binds pending pods to it and runs their containers as local processes,
so that kubecanvas is tested against a real Kubernetes control plane on a machine without a
container runtime. See docs/node-agent.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kubecanvas")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
