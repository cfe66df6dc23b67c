"""`python -m kubecanvas_operator.selftest`: the Helm chart's `helm test`.

Runs in a pod of the operator image with a ServiceAccount that may only create, get and
delete Workflows in one namespace. It creates a one-task Workflow whose code comes from a
ConfigMap (so the kubelet's passing of its files is exercised too), waits for it to
succeed, checks its result, and deletes it. With `--check-webhook` it first asks the API
server to create an invalid Workflow (a dry run) and expects the admission webhook to
refuse it, naming the bad field.

Exit status: 0 when everything held, 1 when something did not (the reason is printed),
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from typing import Any

from kubecanvas.resources import API_VERSION, GROUP, VERSION, WORKFLOW

FINISHED = ("Succeeded", "Failed", "Revoked")

TASK = "selftesttasks.square"  # a key of the test's ConfigMap (charts/kubecanvas/templates/tests)
ARGUMENT = 12
EXPECTED = ARGUMENT * ARGUMENT

# A chord without its body: the webhook must refuse it and name the field path.
INVALID_CANVAS = {
    "chain": [{"task": TASK, "args": [1]}, {"chord": {"header": [{"task": TASK, "args": [2]}]}}]
}
INVALID_PATH = "spec.canvas.chain[1].chord"


class SelfTestFailure(Exception):
    """The installation does not work; the message says what was seen."""


def say(message: str) -> None:
    print(f"[selftest {time.strftime('%H:%M:%S')}] {message}", flush=True)


def workflow(name: str, canvas: dict[str, Any], config_map: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "selftest"}},
        "spec": {
            "code": {"configMap": {"name": config_map}},
            "canvas": canvas,
            "ttlSecondsAfterFinished": 600,
        },
    }


def _api() -> Any:
    from kubernetes import client, config

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.CustomObjectsApi()


def _reason(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error)


def check_webhook(api: Any, namespace: str, name: str, config_map: str) -> None:
    from kubernetes.client.exceptions import ApiException

    body = workflow(f"{name}-invalid", INVALID_CANVAS, config_map)
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW.plural, body, dry_run="All")
    except ApiException as error:
        message = _reason(error)
        if error.status in (400, 422) and INVALID_PATH in message:
            say(f"the admission webhook refused an invalid Workflow: {message}")
            return
        raise SelfTestFailure(
            f"an invalid Workflow was refused, but not by the webhook naming {INVALID_PATH}: "
            f"{error.status} {message}"
        ) from None
    raise SelfTestFailure(
        "the API server accepted an invalid Workflow (a chord without its body): the admission "
        "webhook is not called or does not answer (is failurePolicy Ignore?)"
    )


def run_workflow(api: Any, namespace: str, name: str, config_map: str, timeout: float) -> None:
    from kubernetes.client.exceptions import ApiException

    body = workflow(name, {"task": TASK, "args": [ARGUMENT]}, config_map)
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW.plural, body)
    except ApiException as error:
        raise SelfTestFailure(f"cannot create Workflow {namespace}/{name}: {_reason(error)}") from None
    say(f"created Workflow {namespace}/{name}: {TASK}({ARGUMENT})")
    try:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        last_phase = None
        while time.monotonic() < deadline:
            status = (
                api.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW.plural, name).get(
                    "status"
                )
                or {}
            )
            phase = status.get("phase")
            if phase != last_phase:
                say(f"phase: {phase or '(none yet)'}")
                last_phase = phase
            if phase in FINISHED:
                break
            time.sleep(1)
        else:
            raise SelfTestFailure(
                f"Workflow {name} did not finish in {timeout:g}s (status: {json.dumps(status)}); is the "
                "operator running and watching this namespace? `kubectl logs` of its pod says more"
            )
        if status.get("phase") != "Succeeded":
            raise SelfTestFailure(
                f"Workflow {name} ended {status.get('phase')}: {status.get('message')} "
                f"(error: {json.dumps(status.get('error'))})"
            )
        if status.get("result") != EXPECTED:
            raise SelfTestFailure(
                f"Workflow {name} succeeded with result {status.get('result')!r}, expected {EXPECTED}"
            )
        say(f"Workflow {name} succeeded with result {status['result']}")
    finally:
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOW.plural, name)
            say(f"deleted Workflow {name}")
        except ApiException as error:
            if error.status != 404:
                say(f"cannot delete Workflow {name}: {_reason(error)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kubecanvas_operator.selftest", description=__doc__)
    parser.add_argument("--namespace", required=True, help="where to create the test Workflow")
    parser.add_argument("--config-map", required=True, help="the ConfigMap holding selftesttasks.py")
    parser.add_argument("--name-prefix", default="kubecanvas-selftest")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the Workflow")
    parser.add_argument("--check-webhook", action="store_true", help="expect the webhook to refuse a bad one")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    name = f"{options.name_prefix[:50]}-{secrets.token_hex(3)}"
    try:
        api = _api()
        if options.check_webhook:
            check_webhook(api, options.namespace, name, options.config_map)
        run_workflow(api, options.namespace, name, options.config_map, options.timeout)
    except SelfTestFailure as failure:
        say(f"FAILED: {failure}")
        return 1
    say("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
