"""`kubecanvas-operator`: run the operator (in a pod, or against `.cluster/kubeconfig`)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import kopf

from kubecanvas.errors import ConfigurationError
from kubecanvas_operator.config import OperatorConfig
from kubecanvas_operator.leadership import LeadershipLost, LeaseElection, answering_probes_while

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines. Fields given with `extra=` (the
    conductor's `workflow`, `namespace`, `workflowUid`, `task`, `attempt`) become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if (
                key not in _RECORD_ATTRIBUTES
                and key not in entry
                and isinstance(value, str | int | float | bool)
            ):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(verbose: bool, json_logs: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    # kopf logs every handler call at INFO; keep ours readable unless asked.
    logging.getLogger("kopf").setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubecanvas-operator", description=__doc__)
    parser.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch only this namespace (repeatable)"
    )
    parser.add_argument(
        "--peering", metavar="NAME", help="run in HA mode with kopf peering NAME (default: standalone)"
    )
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL")
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="HA: start only while holding a Lease (in $POD_NAMESPACE), standing by otherwise",
    )
    parser.add_argument(
        "--lease-name", default="kubecanvas-operator", help="the Lease replicas elect a leader with"
    )
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    options = parser.parse_args(argv)
    configure_logging(options.verbose, options.log_format == "json")
    try:
        config = OperatorConfig.from_environ()
    except ConfigurationError as error:
        print(f"kubecanvas-operator: {error}", file=sys.stderr)
        return 2
    namespaces = tuple(options.namespace) or config.watch_namespaces
    config = dataclasses.replace(config, watch_namespaces=namespaces)
    from kubecanvas_operator import namespace_watch
    from kubecanvas_operator.memo import OperatorMemo
    from kubecanvas_operator.wiring import build_registry

    namespace_watch.install()  # a namespace created while kopf starts is served at once

    webhook = bool(os.environ.get("KUBECANVAS_WEBHOOK_CERT"))
    memo = OperatorMemo(config)  # kopf takes any object as the memo; both parts share it

    def run(*, serving: bool, leading: bool, stop: asyncio.Event | None = None) -> Coroutine[Any, Any, None]:
        return kopf.operator(
            registry=build_registry(webhook=webhook, serving=serving, leading=leading),
            clusterwide=not namespaces,
            namespaces=namespaces,
            # Any peering name makes peering mandatory in kopf: pass one only for HA mode, and a
            # distinct priority per replica (equal priorities pause every replica). The front
            # (serving only) watches nothing, so it needs no peering.
            standalone=options.peering is None or not leading,
            peering_name=options.peering if leading else None,
            priority=secrets.randbelow(1_000_000) + 1 if options.peering and leading else None,
            liveness_endpoint=options.liveness if leading else None,
            memo=memo,
            stop_flag=stop,
        )

    if not options.leader_elect:
        asyncio.run(run(serving=True, leading=True))
        return 0
    try:
        asyncio.run(
            _lead(
                lambda: run(serving=False, leading=True),
                lambda stop: run(serving=True, leading=False, stop=stop),
                options.lease_name,
                options.liveness,
            )
        )
    except LeadershipLost as error:
        logging.getLogger(__name__).error("stepping down: %s", error)
        return 1
    return 0


async def _lead(
    operator: Callable[[], Coroutine[Any, Any, None]],
    front: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    lease: str,
    liveness: str,
) -> None:
    """Serve the front (webhook, results API) from start to stop; stand by until this replica
    holds the Lease, then run the operator proper while renewing it.

    Each part is a kopf of its own; the one started last takes SIGTERM (kopf installs its
    handler when it starts), so a standby stops with its front and a leader with its
    operator, and the front is then stopped here, last, so that it serves until the end."""
    from kubecanvas_operator.kube import KubeApi
    from kubecanvas_operator.stream import consumer_name

    api = KubeApi(concurrency=2)
    election = LeaseElection(api, os.environ.get("POD_NAMESPACE", "default"), lease, consumer_name())
    stop_serving = asyncio.Event()
    serving = asyncio.create_task(front(stop_serving))
    try:
        acquiring = asyncio.create_task(election.acquire())
        await answering_probes_while(
            asyncio.wait({acquiring, serving}, return_when=asyncio.FIRST_COMPLETED), liveness
        )
        if not acquiring.done():  # the front stopped (SIGTERM, or it failed) while standing by
            acquiring.cancel()
            await asyncio.gather(acquiring, return_exceptions=True)
            serving.result()
            return
        acquiring.result()
        running, keeping = asyncio.create_task(operator()), asyncio.create_task(election.keep())
        done, _ = await asyncio.wait({running, keeping, serving}, return_when=asyncio.FIRST_COMPLETED)
        if running not in done:
            running.cancel()
        keeping.cancel()
        await asyncio.gather(running, keeping, return_exceptions=True)
        if keeping in done:
            keeping.result()  # raises LeadershipLost
        if serving in done:
            serving.result()  # the front failed: raise why
        running.result()
        await election.release()  # a clean stop: a standby takes over at once
    finally:
        stop_serving.set()
        await asyncio.gather(serving, return_exceptions=True)
        api.close()


if __name__ == "__main__":
    sys.exit(main())
