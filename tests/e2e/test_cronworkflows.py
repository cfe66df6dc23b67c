"""CronWorkflows on a real cluster: Workflows started on schedule, as a user sees them.

Schedules are `every: 5s` so that the tests take seconds, not minutes; every wait is on
a condition. A test that must show that something does *not* happen watches for it over
a few slots (`never_within`) and fails the moment it does.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import CONFTASKS
from support.cluster import Cluster
from support.operator import FINISHED, OperatorProcess, Workflows, free_port
from support.waiting import wait_until

CRON_LABEL = "kubecanvas.io/cronworkflow"
SCHEDULED_AT = "kubecanvas.io/scheduled-at"
EVERY = 5  # seconds between slots in these tests


def cron(name: str, canvas: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": name},
        "spec": {
            "schedule": {"every": f"{EVERY}s"},
            "workflowSpec": {"canvas": canvas, "code": CONFTASKS},
            **spec,
        },
    }


def sig(task: str, *args: Any) -> dict[str, Any]:
    return {"task": f"conftasks.{task}", "args": list(args)}


def slot_of(run: dict[str, Any]) -> int:
    return int(run["metadata"]["name"].rsplit("-", 1)[1])


def phase_of(run: dict[str, Any]) -> str | None:
    return (run.get("status") or {}).get("phase")


def epoch(text: str) -> float:
    from kubecanvas._kits.timestamps import from_rfc3339

    return from_rfc3339(text)


class Crons:
    """Apply and read CronWorkflows, their runs and their Events in one namespace."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def apply(self, manifest: dict[str, Any]) -> str:
        self.cluster.apply(manifest, self.namespace)
        return str(manifest["metadata"]["name"])

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.get("cronworkflow", name, self.namespace)

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        self.cluster.kubectl(
            "patch",
            "cronworkflow",
            name,
            "-n",
            self.namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": spec}),
        )

    def runs(self, name: str) -> list[dict[str, Any]]:
        """The Workflows the CronWorkflow started (that still exist), oldest slot first."""
        listed = self.cluster.kubectl(
            "get", "workflows", "-n", self.namespace, "-l", f"{CRON_LABEL}={name}", "-o", "json"
        )
        return sorted(json.loads(listed)["items"], key=slot_of)

    def events(self, name: str) -> list[dict[str, Any]]:
        listed = self.cluster.kubectl(
            "get",
            "events",
            "-n",
            self.namespace,
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "json",
        )
        return list(json.loads(listed)["items"])

    def reasons(self, name: str) -> set[str]:
        return {event["reason"] for event in self.events(name)}

    def wait_status(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        """The status once `check(status)` holds."""
        seen: dict[str, Any] = {}

        def holds() -> bool:
            seen.clear()
            seen.update(self.status(name))
            return check(seen)

        wait_until(holds, timeout=timeout, what=f"{name}: {what}")
        return seen

    def wait_runs(
        self, name: str, check: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float = 60
    ) -> list[dict[str, Any]]:
        """The runs once `check(runs)` holds."""
        seen: list[dict[str, Any]] = []

        def holds() -> bool:
            seen[:] = self.runs(name)
            return check(seen)

        wait_until(holds, timeout=timeout, what=f"{name}: {what}")
        return seen


@pytest.fixture
def crons(
    cluster: Cluster, operator: OperatorProcess, workflows: Workflows, namespace: str
) -> Iterator[Crons]:
    yield Crons(cluster, namespace)
    # kopf keeps a finalizer on CronWorkflows while their daemons run: delete them while an
    # operator is there to take it off, or the namespace would wait for one forever.
    if operator.process is None:
        operator.start()
    cluster.kubectl("delete", "cronworkflows", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


def never_within(seconds: float, happened: Callable[[], Any], what: str) -> None:
    """Watch for `seconds`, failing as soon as `happened()` returns something truthy."""
    deadline = time.monotonic() + seconds

    def quiet_until_deadline() -> bool:
        seen = happened()
        assert not seen, f"{what}: {seen}"
        return time.monotonic() >= deadline

    wait_until(quiet_until_deadline, timeout=seconds + 30, what=f"{seconds:g}s without {what}")


def test_runs_start_on_schedule_named_after_their_slots_and_succeed(cluster: Cluster, crons: Crons) -> None:
    name = crons.apply(cron("beat", sig("add", 2, 3), successfulRunsHistoryLimit=10))
    succeeded = crons.wait_runs(
        name,
        lambda runs: len([run for run in runs if phase_of(run) == "Succeeded"]) >= 2,
        "two successes",
        90,
    )
    owner = crons.get(name)
    slots = [slot_of(run) for run in succeeded]
    assert len(set(slots)) == len(slots)
    for run in succeeded:
        slot = slot_of(run)
        assert run["metadata"]["name"] == f"beat-{slot}"
        assert slot % EVERY == 0
        assert epoch(run["metadata"]["annotations"][SCHEDULED_AT]) == slot
        assert run["metadata"]["labels"][CRON_LABEL] == name
        [reference] = run["metadata"]["ownerReferences"]
        assert (reference["kind"], reference["name"], reference["uid"], reference["controller"]) == (
            "CronWorkflow",
            name,
            owner["metadata"]["uid"],
            True,
        )
        # Started at its slot, not before it (and, on an idle machine, within a second or two).
        assert epoch(run["metadata"]["creationTimestamp"]) >= slot
    done = [run for run in succeeded if phase_of(run) == "Succeeded"]
    assert all(run["status"]["result"] == 5 for run in done)

    status = crons.wait_status(name, lambda status: "lastSuccessfulTime" in status, "lastSuccessfulTime")
    assert status["phase"] == "Scheduled"
    assert status["schedule"] == "every 5s"
    assert epoch(status["nextScheduleTime"]) > epoch(status["lastScheduleTime"])
    assert epoch(status["nextScheduleTime"]) % EVERY == 0
    assert "RunStarted" in crons.reasons(name)

    table = cluster.kubectl("get", "kcwf", name, "-n", crons.namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST", "NEXT", "AGE"]
    assert row.split()[:4] == [name, "every", "5s", "false"]


def test_forbid_skips_slots_while_a_run_is_active(crons: Crons) -> None:
    name = crons.apply(
        cron("single", sig("sleep", 8), concurrencyPolicy="Forbid", successfulRunsHistoryLimit=10)
    )
    runs = crons.wait_runs(
        name,
        lambda runs: len(runs) >= 2 and phase_of(runs[0]) in FINISHED,
        "a second run, after the first",
        120,
    )
    first, second = runs[0], runs[1]
    assert phase_of(first) == "Succeeded"
    # The second started only once the first had finished: the slots in between were skipped.
    assert epoch(second["metadata"]["creationTimestamp"]) >= int(epoch(first["status"]["finishedAt"]))
    assert slot_of(second) - slot_of(first) > EVERY
    status = crons.status(name)
    assert slot_of(first) < epoch(status["lastSkippedTime"]) < slot_of(second)
    skipped = [event for event in crons.events(name) if event["reason"] == "RunSkipped"]
    assert skipped
    assert f"{first['metadata']['name']} still running (concurrencyPolicy Forbid)" in skipped[0]["message"]


def test_replace_revokes_the_running_run_and_starts_the_new_one(crons: Crons) -> None:
    name = crons.apply(
        cron("latest", sig("sleep", 120), concurrencyPolicy="Replace", failedRunsHistoryLimit=5)
    )

    def replaced(runs: list[dict[str, Any]]) -> bool:
        revoked = [run for run in runs if phase_of(run) == "Revoked"]
        return bool(revoked) and slot_of(runs[-1]) > slot_of(revoked[0])

    runs = crons.wait_runs(name, replaced, "a run revoked and replaced by a newer one", 90)
    old = next(run for run in runs if phase_of(run) == "Revoked")
    assert old["spec"]["revoke"] is True
    assert [run for run in runs if slot_of(run) > slot_of(old) and phase_of(run) not in FINISHED]
    started = [event["message"] for event in crons.events(name) if event["reason"] == "RunStarted"]
    assert any(f"revoking {old['metadata']['name']} (concurrencyPolicy Replace)" in text for text in started)


def test_history_is_trimmed_to_the_limits(crons: Crons) -> None:
    good = crons.apply(cron("good", sig("add", 1, 1), successfulRunsHistoryLimit=2))
    bad = crons.apply(cron("bad", sig("fail"), failedRunsHistoryLimit=1))

    firsts: dict[str, int] = {}

    def trimmed(name: str, phase: str, limit: int) -> bool:
        runs = crons.runs(name)
        if runs and name not in firsts:
            firsts[name] = slot_of(runs[0])
        last = crons.status(name).get("lastScheduleTime")
        enough = name in firsts and last is not None and epoch(last) - firsts[name] >= (limit + 2) * EVERY
        finished = [run for run in runs if phase_of(run) == phase]
        return bool(enough and len(finished) == limit and len(runs) <= limit + 1)

    wait_until(lambda: trimmed(good, "Succeeded", 2), timeout=120, what="2 successful runs kept of 4 or more")
    wait_until(lambda: trimmed(bad, "Failed", 1), timeout=120, what="1 failed run kept of 3 or more")
    kept = [slot_of(run) for run in crons.runs(good) if phase_of(run) == "Succeeded"]
    assert kept == sorted(kept)
    assert min(kept) > firsts[good]  # the oldest went first


def test_suspend_stops_new_runs_and_unsuspend_resumes_at_the_next_slot(crons: Crons) -> None:
    name = crons.apply(cron("pausable", sig("add", 1, 1), successfulRunsHistoryLimit=20))
    wait_until(lambda: crons.runs(name), timeout=60, what="a first run")
    crons.patch(name, {"suspend": True})
    status = crons.wait_status(name, lambda status: status.get("phase") == "Suspended", "Suspended")
    assert "nextScheduleTime" not in status
    before = {run["metadata"]["name"] for run in crons.runs(name)}
    never_within(
        3 * EVERY,
        lambda: {run["metadata"]["name"] for run in crons.runs(name)} - before,
        "a run started while suspended",
    )
    resumed_at = time.time()
    crons.patch(name, {"suspend": False})
    runs = crons.wait_runs(
        name,
        lambda runs: any(run["metadata"]["name"] not in before for run in runs),
        "a run after unsuspending",
    )
    new = [run for run in runs if run["metadata"]["name"] not in before]
    # Slots that passed while suspended were not run: the next run is a slot after resuming.
    assert all(slot_of(run) > resumed_at - 1 for run in new), [run["metadata"]["name"] for run in new]
    assert crons.status(name)["phase"] == "Scheduled"


def test_an_operator_restart_does_not_fire_a_slot_twice_nor_every_missed_one(
    crons: Crons, operator: OperatorProcess
) -> None:
    name = crons.apply(cron("steady", sig("add", 1, 1), successfulRunsHistoryLimit=50))
    wait_until(lambda: crons.runs(name)[1:], timeout=60, what="two runs")
    operator.kill()
    down_at = time.time()
    wait_until(lambda: time.time() - down_at >= 3.5 * EVERY, timeout=60, what="three slots to pass")
    up_at = time.time()
    operator.start()
    wait_until(
        lambda: [run for run in crons.runs(name) if slot_of(run) > up_at + EVERY],
        timeout=60,
        what="a run scheduled after the restart",
    )
    runs = crons.runs(name)
    slots = [slot_of(run) for run in runs]
    assert len(slots) == len(set(slots))
    # Of the slots missed while the operator was down, one at most ran (the latest, on restart).
    missed = [slot for slot in slots if down_at + 1 < slot < up_at - 1]
    assert len(missed) <= 1, missed
    assert len(runs) == len(crons.runs(name))  # nothing doubled meanwhile
    assert "MissedSchedules" in crons.reasons(name)


def test_an_invalid_schedule_is_reported_until_fixed(crons: Crons) -> None:
    name = crons.apply(cron("typo", sig("add", 1, 1), schedule="*/5 * * *"))
    message = (
        "spec.schedule: '*/5 * * *' is not a valid cron expression: expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 4"
    )
    status = crons.wait_status(name, lambda status: status.get("phase") == "Invalid", "Invalid")
    assert status["message"] == message
    assert "nextScheduleTime" not in status
    warnings = [event for event in crons.events(name) if event["reason"] == "InvalidCronWorkflow"]
    assert [(event["type"], event["message"]) for event in warnings] == [("Warning", message)]
    assert crons.runs(name) == []

    crons.patch(name, {"schedule": "*/5 * * * *"})
    status = crons.wait_status(name, lambda status: status.get("phase") == "Scheduled", "fixed")
    assert epoch(status["nextScheduleTime"]) % 300 == 0
    assert status["schedule"] == "*/5 * * * *"


@contextmanager
def webhook_for(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[None]:
    """The operator's webhook server, called by the API server for `namespace` only, for
    Workflows and CronWorkflows."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make the webhook's certificate")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    # A second operator that only serves the webhook: it watches a namespace nobody uses and
    # keeps its state in another Redis database, so it never touches what the real one runs.
    hook = OperatorProcess(
        cluster,
        log_path=cluster.root / ".cluster/logs/operator-webhook-e2e.log",
        env={
            "KUBECANVAS_WEBHOOK_CERT": str(cert),
            "KUBECANVAS_WEBHOOK_KEY": str(key),
            "KUBECANVAS_WEBHOOK_PORT": str(port),
            "KUBECANVAS_REDIS_URL": cluster.redis_url.rsplit("/", 1)[0] + "/7",
        },
        namespaces=(f"{namespace}-nobody",),
    )
    configuration = f"kubecanvas-e2e-{namespace}"[:63]

    def hook_for(plural: str, path: str) -> dict[str, Any]:
        return {
            "name": f"{path}.kubecanvas.io",
            "clientConfig": {
                "url": f"https://127.0.0.1:{port}/{path}",
                "caBundle": base64.b64encode(cert.read_bytes()).decode(),
            },
            "rules": [
                {
                    "apiGroups": ["kubecanvas.io"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [plural],
                    "scope": "Namespaced",
                }
            ],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
        }

    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": configuration},
        "webhooks": [
            hook_for("cronworkflows", "validate-cronworkflow"),
            hook_for("workflows", "validate-workflow"),
        ],
    }
    hook.start()
    try:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(webhook))
        yield
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", configuration, "--ignore-not-found")
        hook.stop()


def dry_run(cluster: Cluster, namespace: str, manifest: dict[str, Any], *as_user: str) -> str:
    """What a server-side dry run of `manifest` says: admission runs, nothing is stored."""
    return cluster.kubectl(
        "apply",
        "--dry-run=server",
        *as_user,
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        input=json.dumps(manifest),
    )


def test_the_admission_webhook_refuses_an_invalid_cronworkflow(
    cluster: Cluster, crons: Crons, tmp_path: Path
) -> None:
    with webhook_for(cluster, crons.namespace, tmp_path):
        invalid = cron("refused", sig("add", 1, 1), schedule="*/5 * * *", timezone="Mars/Base")

        def attempt() -> str:
            return dry_run(cluster, crons.namespace, invalid)

        # The API server picks up a new webhook configuration within moments.
        wait_until(lambda: "denied the request" in attempt(), timeout=30, what="the webhook to answer")
        refused = attempt()
        assert "invalid CronWorkflow: spec.timezone: 'Mars/Base' is not a known IANA time zone" in refused
        assert "spec.schedule: '*/5 * * *' is not a valid cron expression" in refused
        name = crons.apply(cron("accepted", sig("add", 1, 1), schedule="@hourly"))
        changed = cluster.kubectl(
            "patch",
            "cronworkflow",
            name,
            "-n",
            crons.namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"schedule": {"every": "soon"}}}),
            check=False,
        )
        assert "spec.schedule.every: 'soon' is not a duration" in changed
        crons.patch(name, {"suspend": True})  # a valid change goes through


def test_a_workflow_cannot_make_the_operator_do_what_its_author_may_not(
    cluster: Cluster, crons: Crons, tmp_path: Path
) -> None:
    """The confused deputy: a user allowed only to create Workflows and CronWorkflows names a
    Secret in a task's environment. Refused at apply time, naming what they lack; once they
    may create Jobs and read that Secret, the same Workflow is admitted."""
    namespace, user = crons.namespace, "kubecanvas-e2e-author"
    as_author = ("--as", user)
    rbac = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "author", "namespace": namespace},
                "rules": [
                    {
                        "apiGroups": ["kubecanvas.io"],
                        "resources": ["workflows", "cronworkflows"],
                        "verbs": ["create", "get", "list", "patch"],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "author", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "author"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        ],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(rbac))
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "powerful", "key": "token"}}}]
    task = {**sig("add", 1, 1), "options": {"env": env}}
    workflow = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "deputy"},
        "spec": {"canvas": task},
    }
    with webhook_for(cluster, namespace, tmp_path):
        wait_until(
            lambda: "denied the request" in dry_run(cluster, namespace, workflow, *as_author),
            timeout=30,
            what="the webhook to answer",
        )
        refused = dry_run(cluster, namespace, workflow, *as_author)
        assert f"would have the operator do what {user} may not" in refused
        assert f"create jobs.batch in namespace {namespace}" in refused
        assert "get secrets 'powerful'" in refused
        assert "spec.canvas.options.env[0].valueFrom.secretKeyRef" in refused
        refused_cron = dry_run(cluster, namespace, cron("deputy", task, schedule="@hourly"), *as_author)
        assert "get secrets 'powerful'" in refused_cron

        cluster.kubectl(
            "create", "role", "author-runs", "-n", namespace, "--verb=create", "--resource=jobs.batch"
        )
        cluster.kubectl(
            "create",
            "role",
            "author-reads",
            "-n",
            namespace,
            "--verb=get",
            "--resource=secrets",
            "--resource-name=powerful",
        )
        for role in ("author-runs", "author-reads"):
            cluster.kubectl(
                "create", "rolebinding", role, "-n", namespace, f"--role={role}", f"--user={user}"
            )
        wait_until(
            lambda: "created (server dry run)" in dry_run(cluster, namespace, workflow, *as_author),
            timeout=30,
            what="the author's new rights to count",
        )
