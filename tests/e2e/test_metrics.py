"""The operator's observability: Prometheus metrics and the HTTP API on
`KUBECANVAS_HTTP_PORT`, and structured logs."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from contract.cases import case
from e2e.conftest import CONFTASKS
from kubecanvas.engine.events import Failed, Start, Started, Succeeded, Tick
from support.operator import OperatorProcess, Workflows
from support.waiting import wait_until


def _get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()
    except OSError:
        return 0, "", ""


def scrape(port: int) -> dict[str, float]:
    """Every sample as `name{label="value"}` -> value."""
    status, content_type, text = _get(port, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def gauge_matches_the_cluster(workflows: Workflows, port: int) -> None:
    """`kubecanvas_workflows{phase}` counts the Workflows this operator serves (the `t-*`
    namespaces) by phase (other tests' namespaces may be going away meanwhile: compare until
    both agree)."""

    def agree() -> tuple[dict[str, int], dict[str, int]] | None:
        listed = json.loads(workflows.cluster.kubectl("get", "workflows", "-A", "-o", "json"))["items"]
        expected: dict[str, int] = {}
        for item in listed:
            if not item["metadata"]["namespace"].startswith("t-"):
                continue  # the chart tests' and the benchmarks' Workflows, served by their own operators
            phase = (item.get("status") or {}).get("phase") or "Pending"
            expected[phase] = expected.get(phase, 0) + 1
        samples = scrape(port)
        gauge = {
            phase: int(samples.get(f'kubecanvas_workflows{{phase="{phase}"}}', 0))
            for phase in ("Pending", "Running", "Succeeded", "Failed", "Revoked")
        }
        return None if {k: v for k, v in gauge.items() if v} != expected else (gauge, expected)

    wait_until(agree, timeout=30, what="kubecanvas_workflows to match `kubectl get workflows -A`")


def workflow(name: str, canvas: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"canvas": canvas, "code": CONFTASKS, **spec},
    }


def test_counters_and_gauges_after_workflows(workflows: Workflows, http_port: int) -> None:
    before = scrape(http_port)
    for number in (5, 24, 27):  # a chain; a failed chain; a task retried twice
        workflows.apply(case(number).path)
    phases = {number: workflows.wait_finished(case(number).name)["status"]["phase"] for number in (5, 24, 27)}
    assert phases == {5: "Succeeded", 24: "Failed", 27: "Succeeded"}

    def counted() -> dict[str, float] | None:  # the last counts land just after the status
        after = scrape(http_port)
        done = delta(before, after, 'kubecanvas_workflows_finished_total{phase="Succeeded"}') >= 2
        return (
            after
            if done and delta(before, after, 'kubecanvas_workflows_finished_total{phase="Failed"}')
            else None
        )

    after = wait_until(counted, timeout=30, what="the workflows to be counted")
    # case 5: 3 tasks; case 24: add succeeds, fail fails, the third is revoked; case 27: 3 attempts.
    assert delta(before, after, "kubecanvas_tasks_started_total") == 3 + 2 + 3
    assert delta(before, after, "kubecanvas_tasks_succeeded_total") == 3 + 1 + 1
    assert delta(before, after, "kubecanvas_tasks_failed_total") == 1
    assert delta(before, after, "kubecanvas_tasks_revoked_total") == 1
    assert delta(before, after, "kubecanvas_tasks_retried_total") == 2
    assert delta(before, after, 'kubecanvas_workflows_finished_total{phase="Succeeded"}') == 2
    assert delta(before, after, 'kubecanvas_workflows_finished_total{phase="Failed"}') == 1
    gauge_matches_the_cluster(workflows, http_port)
    assert after["kubecanvas_jobs_in_flight"] == 0
    # Jobs created because a result was written: t1, t2 of the chain, t1 of case 24.
    assert delta(before, after, "kubecanvas_step_latency_seconds_count") >= 3
    latency = delta(before, after, "kubecanvas_step_latency_seconds_sum") / delta(
        before, after, "kubecanvas_step_latency_seconds_count"
    )
    assert 0 < latency < 5
    assert delta(before, after, "kubecanvas_report_delay_seconds_count") >= 8
    # The operator counts its own API calls: at least a Job per attempt (other tests' work
    # may land in the same window, so no upper bound).
    assert delta(before, after, 'kubecanvas_kube_api_calls_total{call="create_namespaced_job"}') >= 8


def test_gauges_while_a_workflow_runs(workflows: Workflows, http_port: int) -> None:
    name = workflows.apply(workflow("running", {"group": [{"task": "conftasks.sleep", "args": [20]}] * 2}))
    wait_until(
        lambda: [task["state"] for task in workflows.document(name)["tasks"]] == ["STARTED", "STARTED"],
        timeout=60,
        what="both tasks to start",
    )
    during = scrape(http_port)
    assert during["kubecanvas_jobs_in_flight"] >= 2
    assert during['kubecanvas_workflows{phase="Running"}'] >= 1
    gauge_matches_the_cluster(workflows, http_port)
    workflows.cluster.kubectl("delete", "workflow", name, "-n", workflows.namespace, "--wait=true")
    gauge_matches_the_cluster(workflows, http_port)


def test_the_plain_http_port_serves_health_and_metrics_and_no_workflow_data(
    workflows: Workflows, http_port: int
) -> None:
    """A workflow's state (its results) is served only by the results API, over TLS, to callers
    allowed to read the Workflow (tests/chart/test_chart_cluster.py); never here, unauthenticated."""
    workflows.apply(case(20).path)
    workflows.wait_finished("case-20")
    assert _get(http_port, f"/api/v1/workflows/{workflows.namespace}/case-20")[0] == 404
    assert _get(http_port, "/healthz")[:1] == (200,)
    assert _get(http_port, "/metrics")[0] == 200
    assert _get(http_port, "/nothing")[0] == 404


def test_the_operator_logs_name_workflows(
    workflows: Workflows, operator: OperatorProcess, http_port: int
) -> None:
    workflows.apply(case(1).path)
    workflows.wait_finished("case-01")
    qualified = f"{workflows.namespace}/case-01"
    wait_until(lambda: f"workflow {qualified} succeeded" in operator.log(), timeout=10, what="the log line")
    assert f"workflow {qualified} admitted" in operator.log()


def test_json_logs_carry_the_fields_given_with_extra() -> None:
    from kubecanvas_operator.__main__ import JsonFormatter

    record = logging.LogRecord(
        "kubecanvas_operator.conductor", logging.INFO, __file__, 1, "workflow %s", ("x",), None
    )
    record.workflow, record.namespace, record.task, record.attempt = "x", "team-a", "t3", 2
    record.k8s_ref = {"not": "a scalar"}  # kopf's own extras are not ours to print
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "workflow x"
    assert (entry["workflow"], entry["namespace"], entry["task"], entry["attempt"]) == (
        "x",
        "team-a",
        "t3",
        2,
    )
    assert "k8s_ref" not in entry


def test_step_observations_count_each_transition_once() -> None:
    from kubecanvas.canvas.compiler import compile_spec
    from kubecanvas.canvas.validation import parse_spec
    from kubecanvas.engine.machine import Engine
    from kubecanvas.engine.states import TaskFailure
    from kubecanvas_operator.metrics import OperatorMetrics, step_observations

    graph = compile_spec(
        parse_spec(
            {"canvas": {"chain": [{"task": "m.a", "options": {"retries": {"max": 1}}}, {"task": "m.b"}]}}
        )
    )
    engine = Engine(graph)
    metrics = OperatorMetrics()
    changes = [  # as the conductor does: observe each step right after it
        lambda: engine.feed(Start(0.0)),
        lambda: engine.feed(Started("t0", 1, 1.0)),
        lambda: engine.feed(Failed("t0", 1, TaskFailure("ValueError", "no"), 2.0)),
        lambda: engine.feed(Tick(10.0)),
        lambda: engine.feed(Succeeded("t0", 2, 11.0)),
        lambda: engine.feed(Failed("t1", 1, TaskFailure("ValueError", "no"), 12.0)),
    ]
    for change in changes:
        step = change()
        for metric, value in step_observations(engine, step):
            metrics.observe(metric, value)
    text = metrics.exposition()[0].decode()
    assert "kubecanvas_tasks_started_total 3.0" in text
    assert "kubecanvas_tasks_retried_total 1.0" in text
    assert "kubecanvas_tasks_succeeded_total 1.0" in text
    assert "kubecanvas_tasks_failed_total 1.0" in text
    assert 'kubecanvas_workflows_finished_total{phase="Failed"} 1.0' in text
