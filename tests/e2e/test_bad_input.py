"""Bad input at scale, through the real API server: malformed Workflows and CronWorkflows made
by hypothesis (unknown keys, wrong types, deep nesting, bad options and times, bad code
sources, unicode, bad schedules), each sent with `kubectl apply`.

The oracle is the project's own check (`kubecanvas.check.check`, what `kubecanvas lint`
runs): what it refuses, `kubectl apply` refuses too, naming the same field path; what it
accepts, the API server accepts. Without the webhook, what the API server admits ends Failed
at once with that path in its message. The operators never exit and log no traceback.
`KUBECANVAS_CHAOS=full` (`make chaos`) tries ten times as many.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e.conftest import CONFTASKS
from e2e.test_cronworkflows import webhook_for
from kubecanvas.canvas.validation import MAX_DEPTH
from kubecanvas.check import check
from support.cluster import Cluster
from support.operator import OperatorProcess, Workflows

EXAMPLES = 600 if os.environ.get("KUBECANVAS_CHAOS") == "full" else 60

BASE: dict[str, Any] = {
    "canvas": {
        "chain": [
            {"task": "conftasks.add", "args": [1, 2], "options": {"retries": 1}},
            {"group": [{"task": "conftasks.mul", "args": [3]}, {"task": "conftasks.add", "args": [4]}]},
            {
                "chord": {
                    "header": [{"task": "conftasks.add", "args": [1, 1]}],
                    "body": {"task": "conftasks.tsum"},
                }
            },
        ]
    },
    "code": CONFTASKS,
    "parallelism": 2,
}
CRON_BASE: dict[str, Any] = {"schedule": "*/5 * * * *", "workflowSpec": BASE}

ANY_VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=0, max_size=16
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: the paths to its mappings, lists and leaves."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def replaced(base: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    if not path:
        return new if isinstance(new, dict) else {"canvas": new}
    at(spec, path[:-1])[path[-1]] = new
    return spec


@st.composite
def wrong_value(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """Any place of a valid spec given any other value (a string where a number belongs, ...)."""
    path = draw(st.sampled_from(paths(base)[1:]))
    return replaced(base, path, draw(ANY_VALUE))


@st.composite
def unknown_key(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    mappings = [path for path in paths(base) if isinstance(at(base, path), dict)]
    path = draw(st.sampled_from(mappings))
    spec = copy.deepcopy(base)
    at(spec, path)[draw(TEXT.filter(bool))] = draw(ANY_VALUE)
    return spec


@st.composite
def bad_option(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    name = draw(
        st.sampled_from(["retries", "countdown", "eta", "expires", "timeout", "retryBackoff", "queue"])
    )
    value = draw(
        st.one_of(
            st.integers(min_value=-(10**13), max_value=10**13),
            st.floats(allow_nan=False, allow_infinity=False),
            TEXT,
            st.sampled_from(["yes", "1e12", "2026-13-45T99:00:00Z", "tomorrow", ""]),
            ANY_VALUE,
        )
    )
    spec = copy.deepcopy(base)
    spec["canvas"]["chain"][0]["options"] = {name: value}
    return spec


@st.composite
def bad_code(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    spec["code"] = draw(
        st.one_of(
            st.dictionaries(
                st.sampled_from(["configMap", "git", "pip", "image", "inline"]), ANY_VALUE, max_size=2
            ),
            ANY_VALUE,
        )
    )
    return spec


@st.composite
def bad_task_name(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    spec["canvas"]["chain"][0]["task"] = draw(TEXT)
    return spec


def deep_canvas(chains: int) -> dict[str, Any]:
    """A task inside `chains` chains: two levels of nesting each (a mapping and a list)."""
    canvas: dict[str, Any] = {"task": "conftasks.add", "args": [1, 1]}
    for _ in range(chains):
        canvas = {"chain": [canvas]}
    return canvas


@st.composite
def too_deep(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    chains = draw(st.integers(min_value=MAX_DEPTH // 2 + 1, max_value=MAX_DEPTH // 2 + 20))
    return {**copy.deepcopy(base), "canvas": deep_canvas(chains)}


SPECS = st.one_of(
    wrong_value(BASE),
    unknown_key(BASE),
    bad_option(BASE),
    bad_code(BASE),
    bad_task_name(BASE),
    too_deep(BASE),
)


@st.composite
def cron_specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["schedule", "field", "workflow"]))
    spec = copy.deepcopy(CRON_BASE)
    if kind == "schedule":
        fields = st.one_of(TEXT, st.integers(-5, 100).map(str), st.sampled_from(["*", "*/0", "1-", "L", "?"]))
        spec["schedule"] = draw(st.one_of(TEXT, st.lists(fields, min_size=1, max_size=7).map(" ".join)))
    elif kind == "field":
        name = draw(st.sampled_from(["timezone", "concurrencyPolicy", "startingDeadlineSeconds", "suspend"]))
        spec[name] = draw(st.one_of(TEXT, ANY_VALUE))
    else:
        spec["workflowSpec"] = draw(SPECS)
    return spec


def manifest(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "kubecanvas.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


class Applier:
    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace, self.count = cluster, namespace, 0
        self.refused = self.accepted = 0

    def dry_run(self, body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.cluster.root / ".bin" / "kubectl"),
                "apply",
                "--dry-run=server",
                "-n",
                self.namespace,
                "-f",
                "-",
            ],
            input=json.dumps(body),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
        )

    def judge(self, kind: str, spec: dict[str, Any]) -> None:
        """What the project's own check says, `kubectl apply` (the webhook) says too."""
        self.count += 1
        body = manifest(kind, f"bad-{self.count}", spec)
        problems = check(body)
        result = self.dry_run(body)
        if problems:
            self.refused += 1
            assert result.returncode != 0, (
                f"admitted, yet `check` says {problems[0]}:\n{json.dumps(spec)[:2000]}"
            )
            assert problems[0].path in result.stderr or "spec." in result.stderr, (
                f"refused without the field path {problems[0].path!r}: {result.stderr[:1000]}"
            )
        else:
            self.accepted += 1
            assert result.returncode == 0, f"refused, yet `check` finds nothing:\n{result.stderr[:1000]}"


def no_traceback_since(log: Path, offset: int) -> str:
    text = log.read_text(errors="replace")[offset:]
    return "\n".join(line for line in text.splitlines() if "Traceback" in line or "RecursionError" in line)


@pytest.fixture
def applier(cluster: Cluster, namespace: str, tmp_path: Path, operator: OperatorProcess) -> Any:
    if operator.process is None:
        operator.start()
    offset = operator.log_path.stat().st_size if operator.log_path.exists() else 0
    with webhook_for(cluster, namespace, tmp_path):
        webhook_log = cluster.root / ".cluster/logs/operator-webhook-e2e.log"
        hook_offset = webhook_log.stat().st_size
        yield Applier(cluster, namespace)
        assert no_traceback_since(webhook_log, hook_offset) == ""
    assert operator.process is not None
    assert operator.process.poll() is None, "the operator exited"
    assert no_traceback_since(operator.log_path, offset) == ""


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_malformed_workflows_are_refused_with_their_field_path(applier: Applier) -> None:
    @SETTINGS
    @given(SPECS)
    def one(spec: dict[str, Any]) -> None:
        applier.judge("Workflow", spec)

    one()
    assert applier.refused >= EXAMPLES // 2  # the generator makes bad input, mostly


def test_malformed_cronworkflows_are_refused_with_their_field_path(applier: Applier) -> None:
    @SETTINGS
    @given(cron_specs())
    def one(spec: dict[str, Any]) -> None:
        applier.judge("CronWorkflow", spec)

    one()
    assert applier.refused >= EXAMPLES // 2


def test_without_the_webhook_what_is_admitted_ends_failed_naming_the_field(
    workflows: Workflows, operator: OperatorProcess
) -> None:
    """A cluster whose webhook is off (failurePolicy Ignore, or not installed): the operator
    checks the same way and ends the Workflow Failed at once, the field path in its message."""
    offset = operator.log_path.stat().st_size
    bad = [  # what the CRD's schema lets through (the canvas is kubecanvas' to check)
        replaced(BASE, ("canvas", "chain", 2, "chord"), {"header": []}),
        replaced(BASE, ("canvas", "chain", 0, "options"), {"retries": -1}),
        replaced(BASE, ("canvas", "chain", 1, "group", 0), {"task": ""}),
        {**BASE, "canvas": deep_canvas(MAX_DEPTH // 2 + 4)},
    ]
    names = []
    for index, spec in enumerate(bad):
        body = manifest("Workflow", f"admitted-{index}", spec)
        problems = check(body)
        assert problems, spec
        names.append((workflows.apply(body), problems[0].path))
    for name, path in names:
        status = workflows.wait_finished(name, timeout=60)["status"]
        assert status["phase"] == "Failed"
        assert path in status["message"], status["message"]
        assert not workflows.jobs(name)  # nothing ran
    assert operator.process is not None
    assert operator.process.poll() is None
    assert no_traceback_since(operator.log_path, offset) == ""
