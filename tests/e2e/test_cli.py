"""The `kubecanvas` cluster commands against the real cluster and operator.

Each command runs as a user runs it: the console script in a subprocess, with the
cluster's kubeconfig. Per-task state is read from Redis (`KUBECANVAS_REDIS_URL`); reading it
without Redis, through the results API, needs the operator from the chart (its serving
certificate and APIService): tests/chart/test_chart_cluster.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from contract.cases import EXAMPLES as CONTRACT
from contract.cases import Observed, case, verify
from e2e.conftest import CONFTASKS
from support.cluster import Cluster
from support.operator import Workflows
from support.waiting import wait_until

KUBECANVAS = str(Path(sys.executable).with_name("kubecanvas"))
FINISHED = ("Succeeded", "Failed", "Revoked")

# Test tasks with side effects we can count: each run of `count` increments a Redis
# counter, `gate` fails until its key is opened. Task pods get the Redis URL from the
# runtime's environment, as every task does.
CLITASKS = """\
import os

import redis


def _client():
    return redis.Redis.from_url(
        os.environ["KUBECANVAS_REDIS_URL"], password=os.environ.get("KUBECANVAS_REDIS_PASSWORD") or None
    )


def count(key, value):
    _client().incr(f"clitest:{key}:runs")
    print(f"count {key} {value}", flush=True)
    return value


def gate(key, value):
    client = _client()
    client.incr(f"clitest:{key}:gate-runs")
    print(f"gate {key}: attempt {os.environ['KUBECANVAS_ATTEMPT']}", flush=True)
    if not client.get(f"clitest:{key}:open"):
        raise RuntimeError(f"gate {key} is closed")
    return value


def total(values):
    return sum(values)


def chatty(lines, pause):
    import time

    for number in range(lines):
        print(f"line {number}", flush=True)
        time.sleep(pause)
    return lines
"""


# ---------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def cli(cluster: Cluster, workflows: Workflows, http_port: int) -> Cli:
    return Cli(cluster, workflows.namespace)


class Cli:
    """`kubecanvas ...` in a subprocess, against the test's namespace."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "KUBECANVAS_REDIS_URL": cluster.redis_url,
            "COLUMNS": "200",
        }

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, namespaced: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        command = [KUBECANVAS, *args]
        if namespaced:
            command += ["-n", self.namespace]
        return subprocess.run(
            command, capture_output=True, text=True, env=env or self.env, timeout=timeout, check=False
        )


def write(tmp_path: Path, name: str, canvas: dict[str, Any], **spec: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    manifest = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"canvas": canvas, "code": CONFTASKS, **spec},
    }
    path.write_text(yaml.safe_dump(manifest))
    return path


def sig(task: str, *args: Any, **fields: Any) -> dict[str, Any]:
    return {"task": task if "." in task else f"conftasks.{task}", "args": list(args), **fields}


def phase_of(workflows: Workflows, name: str) -> str | None:
    return (workflows.get(name).get("status") or {}).get("phase")


def without_times(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what differs from one run to the next: times, and each task's own
    id (a UUID of the run), written as `<t0>` wherever it appears (an errback's arguments and
    result carry the failed task's)."""
    text = json.dumps(document)
    for task in document["tasks"]:
        text = text.replace(task["uuid"], f"<{task['id']}>")
    tasks = [
        {k: v for k, v in task.items() if k not in ("startedAt", "finishedAt")}
        for task in json.loads(text)["tasks"]
    ]
    return {**json.loads(text), "tasks": tasks}


@pytest.fixture
def clitasks(workflows: Workflows, tmp_path: Path) -> dict[str, Any]:
    source = tmp_path / "clitasks.py"
    source.write_text(CLITASKS)
    workflows.config_map_from("clitasks", [source])
    return {"configMap": {"name": "clitasks"}}


@pytest.fixture
def counters(cluster: Cluster) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
    yield client
    client.close()


# ---------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["submit", "get", "list", "logs", "result", "revoke", "retry", "graph"])
def test_every_command_has_quick_help(command: str) -> None:
    started = time.monotonic()
    done = subprocess.run([KUBECANVAS, command, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage: kubecanvas " + command in done.stdout
    assert time.monotonic() - started < 5


def test_a_usage_error_exits_2(cli: Cli) -> None:
    done = cli("list", "-A")  # -n (added by the helper) with -A
    assert done.returncode == 2
    assert done.stderr.strip() == "kubecanvas: give -n NS or -A, not both"


# ---------------------------------------------------------------------- submit


def test_submit_watch_follows_the_workflow_and_prints_its_result(cli: Cli, workflows: Workflows) -> None:
    done = cli("submit", str(CONTRACT / case(20).file), "--watch")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "110\n"  # stdout keeps only the value
    assert "workflow/case-20 created" in done.stderr
    assert "t4 conftasks.mul SUCCESS" in done.stderr  # a line per task without a terminal
    assert f"Succeeded {workflows.namespace}/case-20" in done.stderr
    assert phase_of(workflows, "case-20") == "Succeeded"


def test_submit_watch_exits_1_when_the_workflow_fails(cli: Cli) -> None:
    done = cli("submit", str(CONTRACT / case(24).file), "-w")
    assert done.returncode == 1
    assert "error: conftasks.fail[t1] raised ExpectedException: Task expected to fail" in done.stderr


def test_submit_without_watch_returns_at_once_and_refuses_a_duplicate(cli: Cli, workflows: Workflows) -> None:
    done = cli("submit", str(CONTRACT / case(1).file))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "workflow/case-01 created\n"
    again = cli("submit", str(CONTRACT / case(1).file))
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"kubecanvas: workflow {workflows.namespace}/case-01 already exists "
        "(delete it first, or choose another name)"
    )
    workflows.wait_finished("case-01")


def test_submit_refuses_an_invalid_file_naming_the_field(
    cli: Cli, workflows: Workflows, tmp_path: Path
) -> None:
    path = write(tmp_path, "broken", {"chain": [sig("add", 1, 1), {"chord": {"header": []}}]})
    done = cli("submit", str(path))
    assert done.returncode == 1
    assert f"{path}: spec.canvas.chain[1].chord: 'body' is required" in done.stderr
    assert "broken" not in workflows.cluster.kubectl(
        "get", "workflows", "-n", workflows.namespace, "-o", "name"
    )


# ---------------------------------------------------------------------- get, list, result


@pytest.mark.parametrize("number", [3, 10, 14, 16, 20, 23, 24, 25, 26, 27])
def test_get_json_is_the_local_runners_document(cli: Cli, workflows: Workflows, number: int) -> None:
    contract = case(number)
    local = subprocess.run(
        [KUBECANVAS, "run", str(contract.path), "-o", "json"], capture_output=True, text=True, check=False
    )
    assert local.returncode == (0 if contract.phase == "Succeeded" else 1), local.stderr
    workflows.apply(contract.path)
    workflows.wait_finished(contract.name)
    done = cli("get", contract.name, "-o", "json")
    assert done.returncode == 0, done.stderr
    cluster_document = json.loads(done.stdout)
    verify(contract, Observed(cluster_document))
    assert without_times(cluster_document) == without_times(json.loads(local.stdout))


def test_get_summary_tree_and_yaml(cli: Cli, workflows: Workflows) -> None:
    workflows.apply(case(24).path)
    workflows.wait_finished("case-24")
    summary = cli("get", "case-24")
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    assert "Phase:     Failed (3/3 tasks: 1 FAILURE, 1 REVOKED, 1 SUCCESS)" in lines
    assert "Error:     conftasks.fail[t1] raised ExpectedException: Task expected to fail" in lines
    assert any(line.split()[:4] == ["t1", "conftasks.fail", "FAILURE", "1"] for line in lines)
    tree = cli("get", "case-24", "-o", "tree")
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.splitlines()[:2] == ["case-24  Failed", "└── chain"]
    assert "t0 conftasks.add(1, 2)  SUCCESS" in tree.stdout
    assert "t1 conftasks.fail(3)  FAILURE" in tree.stdout
    document = yaml.safe_load(cli("get", "case-24", "-o", "yaml").stdout)
    assert document["phase"] == "Failed"
    assert [task["state"] for task in document["tasks"]][:2] == ["SUCCESS", "FAILURE"]


def test_get_an_unknown_workflow(cli: Cli) -> None:
    done = cli("get", "nope")
    assert done.returncode == 1
    assert done.stderr.strip() == f"kubecanvas: workflow {cli.namespace}/nope not found"


# A TCP relay from a pod's port 8081 to the operator's HTTP port on the host.
def test_list_shows_phase_progress_and_message(cli: Cli, workflows: Workflows) -> None:
    for number in (1, 24):
        workflows.apply(case(number).path)
    for name in ("case-01", "case-24"):
        workflows.wait_finished(name)
    done = cli("list")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "PROGRESS", "AGE", "DURATION", "MESSAGE"]
    assert [row.split()[:3] for row in rows] == [
        ["case-01", "Succeeded", "1/1"],
        ["case-24", "Failed", "3/3"],
    ]
    assert "conftasks.fail[t1] raised ExpectedException" in rows[1]
    everywhere = cli("list", "-A", namespaced=False)
    assert everywhere.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    assert any(line.split()[:2] == [cli.namespace, "case-24"] for line in everywhere.stdout.splitlines())
    empty = cli("list", "-n", "default-nothing-here", namespaced=False)
    assert empty.returncode == 0
    assert empty.stderr.strip() == "No workflows found in namespace default-nothing-here."


def test_result_prints_the_value_or_the_root_cause(cli: Cli, workflows: Workflows) -> None:
    workflows.apply(case(13).path)
    waited = cli("result", "case-13", "--wait", "--timeout", "120")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout) == 90
    workflows.apply(case(24).path)
    workflows.wait_finished("case-24")
    failed = cli("result", "case-24")
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.strip() == (
        f"kubecanvas: workflow {cli.namespace}/case-24 failed: "
        "conftasks.fail[t1] raised ExpectedException: Task expected to fail"
    )


def test_result_of_a_running_workflow_says_so(cli: Cli, workflows: Workflows, tmp_path: Path) -> None:
    path = write(tmp_path, "slow", sig("sleep", 20))
    assert cli("submit", str(path)).returncode == 0
    done = cli("result", "slow")
    assert done.returncode == 1
    assert "has not finished" in done.stderr
    assert "--wait waits for it" in done.stderr
    timed_out = cli("result", "slow", "--wait", "--timeout", "1")
    assert timed_out.returncode == 1
    assert timed_out.stderr.strip() == f"kubecanvas: workflow {cli.namespace}/slow did not finish in 1s"


# ---------------------------------------------------------------------- revoke


def test_revoke_cancels_a_running_workflow(cli: Cli, workflows: Workflows, tmp_path: Path) -> None:
    path = write(tmp_path, "long", sig("sleep", 60))
    assert cli("submit", str(path)).returncode == 0
    wait_until(
        lambda: workflows.document("long")["tasks"][0]["state"] == "STARTED",
        timeout=60,
        what="the task to start",
    )
    done = cli("revoke", "long")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "workflow/long revoked\n"
    assert workflows.get("long")["spec"]["revoke"] is True
    assert workflows.wait_finished("long", timeout=30)["status"]["phase"] == "Revoked"
    assert workflows.document("long")["tasks"][0]["state"] == "REVOKED"
    again = cli("revoke", "long")
    assert again.returncode == 0
    assert again.stderr.strip() == "workflow/long already finished (Revoked); nothing to revoke"
    result = cli("result", "long")
    assert result.returncode == 1
    assert result.stderr.strip() == f"kubecanvas: workflow {cli.namespace}/long was revoked"


# ---------------------------------------------------------------------- retry


def test_retry_reuses_the_results_of_tasks_that_succeeded(
    cli: Cli, workflows: Workflows, clitasks: dict[str, Any], counters: redis.Redis, tmp_path: Path
) -> None:
    key = f"retry-{cli.namespace}"
    canvas = {
        "chain": [
            sig("clitasks.count", key, 1, immutable=True),
            {
                "group": [
                    sig("clitasks.count", key, 2, immutable=True),
                    sig("clitasks.gate", key, 3, immutable=True),
                ]
            },
            sig("clitasks.total"),
        ]
    }
    path = write(tmp_path, "gated", canvas)
    manifest = yaml.safe_load(path.read_text())
    manifest["spec"]["code"] = clitasks
    path.write_text(yaml.safe_dump(manifest))
    first = cli("submit", str(path), "--watch")
    assert first.returncode == 1
    assert "clitasks.gate[t2] raised RuntimeError: gate " in first.stderr
    old = workflows.document("gated")
    assert [task["state"] for task in old["tasks"]] == ["SUCCESS", "SUCCESS", "FAILURE", "FAILURE"]
    assert counters.get(f"clitest:{key}:runs") == "2"

    refused = cli("retry", "case-nope")
    assert refused.returncode == 1
    assert "not found" in refused.stderr
    counters.set(f"clitest:{key}:open", "1")
    again = cli("retry", "gated", "--name", "gated-again", "--watch")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "5\n"
    assert "workflow/gated-again created (retry of gated)" in again.stderr
    assert counters.get(f"clitest:{key}:runs") == "2"  # the two counts were not run again
    assert counters.get(f"clitest:{key}:gate-runs") == "2"  # the gate ran again, once
    new = workflows.document("gated-again")
    assert [task["state"] for task in new["tasks"]] == ["SUCCESS"] * 4
    assert [task["attempts"] for task in new["tasks"]] == [1, 1, 1, 1]
    for reused in (0, 1):  # the very records of the first run: same start, same result
        assert new["tasks"][reused]["startedAt"] == old["tasks"][reused]["startedAt"]
        assert new["tasks"][reused]["result"] == old["tasks"][reused]["result"]
    assert new["tasks"][2]["startedAt"] != old["tasks"][2]["startedAt"]
    body = workflows.get("gated-again")
    assert body["metadata"]["annotations"]["kubecanvas.io/retry-of"] == "gated"
    assert (
        body["metadata"]["annotations"]["kubecanvas.io/retry-of-uid"]
        == workflows.get("gated")["metadata"]["uid"]
    )
    events = json.loads(
        workflows.cluster.kubectl(
            "get",
            "events",
            "-n",
            cli.namespace,
            "--field-selector",
            "involvedObject.name=gated-again",
            "-o",
            "json",
        )
    )["items"]
    assert any(
        event["reason"] == "ResultsReused" and "reused the results of 2 of 4 tasks" in event["message"]
        for event in events
    )
    succeeded = cli("retry", "gated-again")
    assert succeeded.returncode == 1
    assert succeeded.stderr.strip() == (
        f"kubecanvas: workflow {cli.namespace}/gated-again succeeded: there is nothing to retry"
    )


# ---------------------------------------------------------------------- logs


def test_logs_print_failed_attempts_and_say_why_succeeded_ones_are_gone(
    cli: Cli, workflows: Workflows, clitasks: dict[str, Any], tmp_path: Path
) -> None:
    key = f"logs-{cli.namespace}"
    canvas = {"chain": [sig("clitasks.count", key, 1), sig("clitasks.gate", key, 2, immutable=True)]}
    path = write(tmp_path, "logged", canvas, defaults={"retries": {"max": 1, "delay": 0}})
    manifest = yaml.safe_load(path.read_text())
    manifest["spec"]["code"] = clitasks
    path.write_text(yaml.safe_dump(manifest))
    assert cli("submit", str(path), "--watch").returncode == 1
    wait_until(  # the operator deletes a succeeded task's Job (and so its pod)
        lambda: (
            [pod["metadata"]["labels"]["kubecanvas.io/task-id"] for pod in workflows.pods("logged")]
            == ["t1", "t1"]
        ),
        timeout=60,
        what="only the failed attempts' pods to remain",
    )
    done = cli("logs", "logged")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "==> t0 clitasks.count <==\n(succeeded; its logs are gone: the Job (and pod) of a task" in out
    assert "==> t1 clitasks.gate, attempt 1 (pod logged-t1-1-" in out
    assert "==> t1 clitasks.gate, attempt 2 (pod logged-t1-2-" in out
    assert f"gate {key}: attempt 1" in out
    assert f"gate {key}: attempt 2" in out
    assert f"RuntimeError: gate {key} is closed" in out
    one = cli("logs", "logged", "--task", "t1")
    assert "t0" not in one.stdout
    assert f"gate {key}: attempt 2" in one.stdout
    unknown = cli("logs", "logged", "--task", "t9")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        f"kubecanvas: workflow {cli.namespace}/logged has no task 't9' (its tasks: t0, t1)"
    )


def test_logs_follow_prints_lines_as_they_come_until_the_end(
    cli: Cli, workflows: Workflows, clitasks: dict[str, Any], tmp_path: Path
) -> None:
    path = write(tmp_path, "chatty", sig("clitasks.chatty", 4, 0.5))
    manifest = yaml.safe_load(path.read_text())
    manifest["spec"]["code"] = clitasks
    path.write_text(yaml.safe_dump(manifest))
    assert cli("submit", str(path)).returncode == 0
    done = cli("logs", "chatty", "-f", timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("[t0#1] line")]
    assert lines == [f"[t0#1] line {number}" for number in range(4)]
    assert phase_of(workflows, "chatty") == "Succeeded"


# ---------------------------------------------------------------------- graph


def test_graph_dot_is_coloured_by_state(cli: Cli, workflows: Workflows) -> None:
    workflows.apply(case(25).path)
    workflows.wait_finished("case-25")
    done = cli("graph", "case-25", "--format", "dot")
    assert done.returncode == 0, done.stderr
    dot = done.stdout
    assert dot.startswith('digraph "case-25" {')
    assert '"t0" [label="t0\\nconftasks.add\\nSUCCESS' in dot
    assert 'fillcolor="#a1d99b"' in dot
    assert '"t1" [label="t1\\nconftasks.fail\\nFAILURE' in dot
    assert 'fillcolor="#fc9272"' in dot
    for header in ("t0", "t1", "t2", "t3"):
        assert f'"{header}" -> "t4";' in dot
    assert '"t1" -> "e0.0.0" [style=dashed' in dot  # the chord's errback, from the root failure
    offline = cli("graph", str(CONTRACT / case(13).file), namespaced=False)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.count(' -> "t10";') == 10
    assert "SUCCESS" not in offline.stdout  # a file has no states


def test_graph_svg_and_png_need_graphviz(cli: Cli, workflows: Workflows, tmp_path: Path) -> None:
    workflows.apply(case(5).path)
    workflows.wait_finished("case-05")
    image = tmp_path / "case-05.svg"
    done = cli("graph", "case-05", "--format", "svg", "--output", str(image))
    if done.returncode != 0:
        assert "needs Graphviz's `dot` on PATH" in done.stderr
        pytest.skip("Graphviz is not installed (hack/install-deps.sh installs it)")
    assert image.read_text().lstrip().startswith("<?xml")
    assert "conftasks.add" in image.read_text()
    png = subprocess.run(
        [KUBECANVAS, "graph", "case-05", "-n", cli.namespace, "--format", "png"],
        capture_output=True,
        env=cli.env,
        check=False,
    )
    assert png.returncode == 0, png.stderr
    assert png.stdout[:8] == b"\x89PNG\r\n\x1a\n"
