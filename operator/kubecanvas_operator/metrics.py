"""The operator's Prometheus metrics, served on `GET /metrics` by `httpapi`.

| metric                                       | type      | what                                    |
|----------------------------------------------|-----------|-----------------------------------------|
| `kubecanvas_workflows{phase}`                | gauge     | Workflow objects by `status.phase`      |
| `kubecanvas_workflows_finished_total{phase}` | counter   | workflows this operator saw finish      |
| `kubecanvas_tasks_started_total`             | counter   | attempts launched (Jobs), retries too   |
| `kubecanvas_tasks_succeeded_total`           | counter   | tasks that ended SUCCESS                |
| `kubecanvas_tasks_failed_total`              | counter   | tasks that ended FAILURE (after retries)|
| `kubecanvas_tasks_retried_total`             | counter   | retries scheduled                       |
| `kubecanvas_tasks_revoked_total`             | counter   | tasks that ended REVOKED                |
| `kubecanvas_jobs_in_flight`                  | gauge     | attempts launched and not finished      |
| `kubecanvas_step_latency_seconds`            | histogram | result written -> next Jobs created     |
| `kubecanvas_report_delay_seconds`            | histogram | result written -> the operator read it  |
| `kubecanvas_kube_api_calls_total{call}`      | counter   | its own API calls, by client method     |

The API calls are counted by `KubeApi`'s `counted` hook (kopf's watches and patches are not
its). Counters and histograms are fed by the conductor's `observe(metric, value)` hook
(`step_observations` turns one engine step into observations); the gauges are read
when scraped: from the conductor's running workflows, and from the phases of the
Workflows the operator watches (`httpapi.track_workflow_phase`, a kopf event handler).
This module imports no kopf: the conductor uses `step_observations`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from kubecanvas.engine.effects import Step
from kubecanvas.engine.machine import Engine
from kubecanvas.engine.states import Phase, TaskState

__all__ = ["OperatorMetrics", "step_observations"]

logger = logging.getLogger(__name__)

Observer = Callable[[str, float], None]

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TERMINAL_METRICS = {
    TaskState.SUCCESS: "tasks_succeeded",
    TaskState.FAILURE: "tasks_failed",
    TaskState.REVOKED: "tasks_revoked",
}


def step_observations(engine: Engine, step: Step) -> Iterator[tuple[str, float]]:
    """What one persisted engine step means for the counters. A record appears in a
    step's `changed` once when it becomes terminal (and never again), so counting
    terminal records counts each task once."""
    if step.launches:
        yield "tasks_started", float(len(step.launches))
    retries = sum(1 for notice in step.notices if notice.kind == "retry")
    if retries:
        yield "tasks_retried", float(retries)
    ended: dict[str, int] = {}
    for node_id in step.changed:
        record = engine.records.get(node_id)
        if record is not None and record.terminal:
            metric = _TERMINAL_METRICS[record.state]
            ended[metric] = ended.get(metric, 0) + 1
    for metric, count in ended.items():
        yield metric, float(count)
    if step.phase_changed and engine.phase.finished:
        yield f"workflow_{engine.phase.value.lower()}", 1.0


class OperatorMetrics:
    """One registry per operator process (tests may build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters = {
            name: Counter(f"kubecanvas_{name}", text, registry=self.registry)
            for name, text in (
                ("tasks_started", "Task attempts launched (a Job created), retries included."),
                ("tasks_succeeded", "Tasks that ended SUCCESS."),
                ("tasks_failed", "Tasks that ended FAILURE, after their retries."),
                ("tasks_retried", "Retries scheduled: an attempt failed and another one will run."),
                ("tasks_revoked", "Tasks that ended REVOKED (revoked, expired, or not run after a failure)."),
            )
        }
        self._finished = Counter(
            "kubecanvas_workflows_finished",
            "Workflows this operator saw finish, by final phase.",
            ["phase"],
            registry=self.registry,
        )
        for phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.REVOKED):
            self._finished.labels(phase.value)
        self._api_calls = Counter(
            "kubecanvas_kube_api_calls",
            "Kubernetes API calls the operator sent, by client method (kopf's own aside).",
            ["call"],
            registry=self.registry,
        )
        self._histograms = {
            "step_latency": Histogram(
                "kubecanvas_step_latency_seconds",
                "From a task's result written (its runtime's finishedAt) to the next Jobs created.",
                buckets=_LATENCY_BUCKETS,
                registry=self.registry,
            ),
            "report_delay": Histogram(
                "kubecanvas_report_delay_seconds",
                "From a task's result written to the operator reading it from the stream.",
                buckets=_LATENCY_BUCKETS,
                registry=self.registry,
            ),
        }
        self._phases: dict[str, str] = {}  # Workflow uid -> status.phase
        self._engines: Callable[[], Iterable[Engine]] = tuple
        self.registry.register(_Gauges(self))

    def attach(self, engines: Callable[[], Iterable[Engine]]) -> None:
        """Read the jobs-in-flight gauge, when scraped, from the engines `engines()` gives
        (the conductor's running workflows)."""
        self._engines = engines

    def observer(self, also: Observer | None = None) -> Observer:
        """The conductor's `observe` hook: these metrics, and `also` if given."""
        if also is None:
            return self.observe

        def both(metric: str, value: float) -> None:
            self.observe(metric, value)
            also(metric, value)

        return both

    def observe(self, metric: str, value: float) -> None:
        counter = self._counters.get(metric)
        if counter is not None:
            counter.inc(value)
            return
        histogram = self._histograms.get(metric)
        if histogram is not None:
            histogram.observe(max(0.0, value))
            return
        if metric.startswith("workflow_"):
            phase = metric.removeprefix("workflow_").capitalize()
            self._finished.labels(phase).inc(value)
        # anything else ("hops", ...) is for other observers

    def api_call(self, call: str) -> None:
        """`KubeApi`'s `counted` hook: one call sent, by its client method's name."""
        self._api_calls.labels(call).inc()

    def track_phase(self, uid: str, phase: str | None) -> None:
        """A Workflow's phase as the watch saw it; None when it was deleted."""
        if phase is None:
            self._phases.pop(uid, None)
        else:
            self._phases[uid] = phase

    def workflows_by_phase(self) -> dict[str, int]:
        counts = {phase.value: 0 for phase in Phase}
        for phase in self._phases.values():
            counts[phase] = counts.get(phase, 0) + 1
        return counts

    def jobs_in_flight(self) -> int:
        return sum(
            1
            for engine in list(self._engines())
            for record in list(engine.records.values())
            if record.launched and not record.terminal
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Gauges:
    """The gauges, computed when scraped."""

    def __init__(self, metrics: OperatorMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        workflows = GaugeMetricFamily(
            "kubecanvas_workflows",
            "Workflows by status.phase (Pending until the operator starts them).",
            labels=["phase"],
        )
        for phase, count in sorted(self.metrics.workflows_by_phase().items()):
            workflows.add_metric([phase], count)
        yield workflows
        yield GaugeMetricFamily(
            "kubecanvas_jobs_in_flight",
            "Task attempts launched and not finished yet (their Jobs exist).",
            value=self.metrics.jobs_in_flight(),
        )

    def describe(self) -> Iterable[Any]:
        return []
