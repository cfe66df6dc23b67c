"""Celery beat's schedule, written as Celery's guide writes it, becomes CronWorkflows:
`kubecanvas beat proj.celery:app | kubectl apply -f -`. Cron times are checked against
Celery's own crontab (a dev dependency only)."""

from __future__ import annotations

import re

import celery.schedules
import pytest
import yaml

from kubecanvas.check import check
from kubecanvas.cli.app import run_cli
from kubecanvas.schedules import crontab, schedule, solar


@pytest.mark.parametrize(
    "fields",
    [
        {"hour": 7, "minute": 30, "day_of_week": 1},
        {"minute": "*/15"},
        {"minute": 0, "hour": "*/3,8-17"},
        {"minute": 0, "hour": 0, "day_of_month": "2-30/2"},
        {"minute": 0, "hour": [0, 12], "day_of_week": "mon-fri"},
        {"minute": 0, "hour": 0, "day_of_month": 11, "month_of_year": "5"},
    ],
)
def test_crontab_reads_as_celerys(fields: dict[str, object]) -> None:
    theirs = re.search(r"<crontab: (.*) \(m/h/dM/MY/d\)>", repr(celery.schedules.crontab(**fields)))  # type: ignore[arg-type]
    assert theirs is not None
    ours = crontab(**fields).expression
    assert ours.replace(" ", "") == theirs.group(1).replace(" ", "").replace("[", "").replace("]", "")
    manifest = {
        "apiVersion": "kubecanvas.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "c"},
        "spec": {"schedule": ours, "workflowSpec": {"canvas": {"task": "m.t"}}},
    }
    assert check(manifest) == []


def test_the_guides_beat_schedule_becomes_cronworkflows(
    proj: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(["beat", "proj.celery:app", "--namespace", "jobs", "--code-config-map", "proj"])

    assert code == 0
    manifests = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [m["metadata"] for m in manifests] == [
        {"name": "add-every-30-seconds", "namespace": "jobs"},
        {"name": "add-every-monday-morning", "namespace": "jobs"},
    ]
    assert [m["spec"]["schedule"] for m in manifests] == [{"every": "30s"}, "30 7 * * 1"]
    assert {m["spec"]["timezone"] for m in manifests} == {"Europe/London"}
    assert manifests[0]["spec"]["workflowSpec"] == {
        "canvas": {"task": "proj.tasks.add", "args": [16, 16]},
        "code": {"configMap": {"name": "proj"}},
        "imports": ["proj.tasks"],  # the app's include, as a Celery worker imports it
    }
    assert all(check(manifest) == [] for manifest in manifests)


def test_what_cannot_be_a_cronworkflow_says_so() -> None:
    with pytest.raises(NotImplementedError, match="solar schedules are not supported"):
        solar("sunset", -37.81, 144.96)
    from kubecanvas import Celery

    app = Celery("bad", set_as_current=False)
    app.conf.beat_schedule = {"fast": {"task": "m.t", "schedule": schedule(0.5)}}
    with pytest.raises(
        ValueError, match=r"beat_schedule\['fast'\]\['schedule'\]: an interval must be whole seconds"
    ):
        app.beat_manifests()
    app.conf.beat_schedule = {"typo": {"task": "m.t", "schedule": "61 * * * *"}}
    with pytest.raises(Exception, match=r"spec\.schedule"):
        app.beat_manifests()
