"""Command line: ``python -m kubecanvas_nodeagent --kubeconfig ... --state-dir ...``.

Wires the parts together: register the Node, recover from a previous run, then watch and bind
pods, run them, and serve their logs, until SIGTERM or SIGINT, which stop every pod process
before the agent exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from kubecanvas_nodeagent import __version__
from kubecanvas_nodeagent.agent import PodManager, recover
from kubecanvas_nodeagent.containers import mount_namespaces_available
from kubecanvas_nodeagent.kubeapi import ApiError, KubeClient, KubeConfig, KubeConfigError, load_kubeconfig
from kubecanvas_nodeagent.logserver import make_app, server_ssl_context
from kubecanvas_nodeagent.node import NodeConfig, NodeHeartbeat, allocatable, node_labels
from kubecanvas_nodeagent.podworker import NodeContext
from kubecanvas_nodeagent.scheduling import Scheduler
from kubecanvas_nodeagent.state import ensure_private

log = logging.getLogger("kubecanvas_nodeagent")


def _labels(text: str) -> dict[str, str]:
    labels = {}
    for pair in filter(None, text.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"node label {pair!r} is not key=value")
        labels[key] = value
    return labels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubecanvas-nodeagent", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="credentials of the node (system:node:NAME)"
    )
    parser.add_argument("--node-name", default="kubecanvas-node")
    parser.add_argument("--node-labels", type=_labels, default={}, help="extra labels, k=v,k2=v2")
    parser.add_argument("--address", default="127.0.0.1", help="the node's IP: every pod's IP too")
    parser.add_argument("--port", type=int, default=10250, help="HTTPS port of the kubelet API (logs)")
    parser.add_argument("--max-pods", type=int, default=110)
    parser.add_argument("--state-dir", type=Path, required=True, help="pod volumes, logs and records")
    parser.add_argument("--tls-cert-file", type=Path, required=True)
    parser.add_argument("--tls-private-key-file", type=Path, required=True)
    parser.add_argument(
        "--client-ca-file", type=Path, required=True, help="CA of the API server's client cert"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--version", action="version", version=f"kubecanvas-nodeagent {__version__}")
    return parser.parse_args(argv)


def service_env(config: KubeConfig) -> dict[str, str]:
    """The `kubernetes` Service's variables, pointing at the real API server (there is no kube-proxy)."""
    host, port = config.host, str(config.port)
    prefix = f"KUBERNETES_PORT_{port}_TCP"
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        prefix: f"tcp://{host}:{port}",
        f"{prefix}_PROTO": "tcp",
        f"{prefix}_PORT": port,
        f"{prefix}_ADDR": host,
    }


async def _register(heartbeat: NodeHeartbeat) -> None:
    """Register the node, waiting out an API server (or RBAC binding) that is not there yet."""
    delay = 0.2
    while True:
        try:
            await heartbeat.register()
            return
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            log.info("registering the node failed (%s); retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)  # short: `make cluster` waits on this


async def run(args: argparse.Namespace) -> None:
    kubeconfig = load_kubeconfig(args.kubeconfig)
    ensure_private(args.state_dir)
    node = NodeConfig(
        args.node_name, args.address, args.port, args.max_pods, args.state_dir, args.node_labels
    )
    isolate = mount_namespaces_available()
    if not isolate:
        log.warning("mount namespaces are unavailable (not root?): pods run without their volumes mounted")
    client = KubeClient(kubeconfig)
    ctx = NodeContext(
        client=client,
        node_name=node.name,
        host_ip=node.host_ip,
        pods_dir=args.state_dir / "pods",
        base_env={
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": os.environ.get("HOME", "/root"),
        },
        service_env=service_env(kubeconfig),
        allocatable=allocatable(node),
        isolate=isolate,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    records = await recover(ctx)
    heartbeat = NodeHeartbeat(client, node)
    await _register(heartbeat)
    manager = PodManager(ctx, records)
    scheduler = Scheduler(client, node.name, node_labels(node), node.max_pods, manager.occupied)
    manager.capacity_freed = scheduler.capacity_freed
    manager.arrived = scheduler.arrived

    app = make_app(manager.container_log, time.time_ns)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = server_ssl_context(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
    await web.TCPSite(runner, node.host_ip, node.port, ssl_context=tls).start()
    log.info("node agent %s serving on https://%s:%d", __version__, node.host_ip, node.port)

    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(t) for t in (heartbeat.run(), manager.run(), scheduler.run())
    ]
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = [task for task in tasks if task.done() and not task.cancelled() and task.exception()]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    log.info("stopping: ending every pod process")
    await manager.shutdown()
    await runner.cleanup()
    await client.close()
    for task in failed:  # a background loop that died is a bug: surface it
        raise RuntimeError("a node agent loop failed") from task.exception()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(run(args))
    except KubeConfigError as error:
        sys.exit(f"kubecanvas-nodeagent: {error}")
    except OSError as error:
        sys.exit(f"kubecanvas-nodeagent: {error}")


if __name__ == "__main__":
    main()
