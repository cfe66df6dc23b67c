"""The `kubecanvas` command line: what it prints, where, and its exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.cases import CASES, case
from kubecanvas.cli.app import run_cli
from kubecanvas.local import LocalRunner
from local.helpers import EXAMPLES, HERE

KUBECANVAS = str(Path(sys.executable).with_name("kubecanvas"))

INVALID = """\
apiVersion: kubecanvas.io/v1alpha1
kind: Workflow
metadata: {name: broken}
spec:
  canvas:
    chain:
      - {task: conftasks.add, args: [1, 1]}
      - {task: conftasks.add}
      - chord:
          header: []
"""

BAD_YAML = """\
apiVersion: kubecanvas.io/v1alpha1
kind: Workflow
spec:
  canvas:
    task: conftasks.add
   args: [1]
"""


@pytest.fixture
def documents(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The documents LocalRunner.run returned during the test."""
    returned: list[dict[str, Any]] = []
    original = LocalRunner.run

    async def recording(self: LocalRunner) -> Any:
        document = await original(self)
        returned.append(dict(document))
        return document

    monkeypatch.setattr(LocalRunner, "run", recording)
    return returned


def test_run_json_prints_exactly_the_document(
    documents: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(["run", "-o", "json", str(case(13).path)])
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out) == documents[0]
    assert documents[0]["result"] == 90


def test_run_yaml_prints_the_document(
    documents: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["run", "-o", "yaml", str(case(1).path)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == documents[0]


def test_run_a_cronworkflow_runs_its_next_slots_named_as_the_operator_names_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Celery beat's schedule tried locally: `kubecanvas run cron.yaml --firings 2`."""
    assert run_cli(["run", "-o", "yaml", "--firings", "2", str(EXAMPLES / "cron-quickstart.yaml")]) == 0
    first, second = yaml.safe_load_all(capsys.readouterr().out)
    slots = [int(document["name"].rsplit("-", 1)[1]) for document in (first, second)]
    assert [document["name"].rsplit("-", 1)[0] for document in (first, second)] == ["squares-every-5m"] * 2
    assert slots[1] - slots[0] == 300  # */5 * * * *
    assert slots[0] % 300 == 0
    assert (first["phase"], first["result"]) == ("Succeeded", second["result"])


def test_run_for_a_person_prints_the_result_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", str(case(13).path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "90\n"
    assert "Succeeded case-13" in captured.err


def test_a_failed_workflow_exits_1_and_names_the_root_cause(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", str(case(24).path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: conftasks.fail[t1] raised ExpectedException: Task expected to fail" in captured.err
    assert 'raise ExpectedException("Task expected to fail")' in captured.err  # its traceback


def test_a_revoked_workflow_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = yaml.safe_load(case(30).path.read_text())
    manifest["spec"]["revoke"] = True
    path = tmp_path / "revoked.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert run_cli(["run", "-o", "json", "--code", str(case(30).path.parent), str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["phase"] == "Revoked"


def test_an_invalid_workflow_lists_its_problems_by_field_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(INVALID)
    assert run_cli(["run", "-o", "json", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"{path}: spec.canvas.chain[2].chord: 'body' is required"]


def test_a_compile_time_problem_is_reported_with_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nested-errbacks.yaml"
    path.write_text(
        "apiVersion: kubecanvas.io/v1alpha1\nkind: Workflow\nmetadata: {name: nested}\nspec:\n"
        "  canvas:\n    task: conftasks.fail\n"
        "    linkError: [{task: conftasks.log_error, linkError: [{task: conftasks.log_error_id}]}]\n"
    )
    assert run_cli(["run", str(path)]) == 1
    assert (
        capsys.readouterr().err
        == f"{path}: spec.canvas.linkError[0].linkError: an errback cannot have errbacks\n"
    )


def test_a_missing_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "no-such-file.yaml"]) == 1
    assert capsys.readouterr().err == "kubecanvas: cannot read no-such-file.yaml: No such file or directory\n"


def test_an_unreachable_redis_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["run", "--redis", "redis://127.0.0.1:1/0", str(case(1).path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubecanvas: cannot reach Redis at redis://127.0.0.1:1/0")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "--no-such-option", "x.yaml"], ["run", "-o", "xml", "x.yaml"], ["lint"], ["nosuch"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(argv) == 2
    assert "Usage:" in capsys.readouterr().err


def test_code_defaults_to_the_directory_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mytasks.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "flow.yaml").write_text(
        "apiVersion: kubecanvas.io/v1alpha1\nkind: Workflow\nmetadata: {name: mine}\n"
        "spec:\n  args: [21]\n  canvas: {task: mytasks.double}\n"
    )
    assert run_cli(["run", str(tmp_path / "flow.yaml")]) == 0
    assert capsys.readouterr().out == "42\n"


def test_lint_reports_each_problem_with_file_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, syntax, good = tmp_path / "broken.yaml", tmp_path / "syntax.yaml", case(13).path
    broken.write_text(INVALID)
    syntax.write_text(BAD_YAML)
    assert run_cli(["lint", str(good), str(broken), str(syntax)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{broken}: spec.canvas.chain[2].chord: 'body' is required"
    assert lines[1].startswith(f"{syntax}: line 6, column 4: ")
    assert len(lines) == 2


def test_lint_refuses_a_key_given_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(INVALID.replace("metadata: {name: broken}", "metadata: {name: a, name: b}"))
    assert run_cli(["lint", str(path)]) == 1
    assert f"{path}: line 3, column 21: duplicate key 'name' (first on line 3)" in capsys.readouterr().out


def test_lint_reads_yaml_as_kubectl_does_and_warns_of_a_boolean_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kwargs: {y: 1}` is `{"true": 1}` to kubectl (YAML 1.1): the same here, and said."""
    path = tmp_path / "yes.yaml"
    path.write_text(
        "apiVersion: kubecanvas.io/v1alpha1\nkind: Workflow\nmetadata: {name: sure}\n"
        "spec:\n  canvas: {task: conftasks.echo, kwargs: {y: 1, 'n': 2}}\n"
    )
    assert run_cli(["lint", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{path}: warning: spec.canvas.kwargs.true: a key named 'true': an unquoted y:, yes:, on: "
        "or true: key becomes 'true' in YAML 1.1 (kubectl); quote it ('y': ...) if you meant a name"
    )
    assert out[1] == "OK: 1 workflow file(s) valid"


def test_lint_ok(capsys: pytest.CaptureFixture[str]) -> None:
    contract = sorted(case(1).path.parent.glob("*.yaml"))
    assert len(contract) == len(CASES)  # the contract's cases, every one linted
    examples = sorted(EXAMPLES.glob("*.yaml")) + contract
    assert run_cli(["lint", *map(str, examples)]) == 0
    assert capsys.readouterr().out == f"OK: {len(examples)} workflow file(s) valid\n"


def test_lint_names_a_task_the_code_next_to_the_file_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read with `ast`, never run: a misspelt function, and a name no module of `spec.imports`
    registers, are named by field path with a hint; what the directory cannot settle (a module
    that is not there) is left to the runtime."""
    (tmp_path / "mytasks.py").write_text(
        "from kubecanvas import shared_task\n\nraise SystemExit('never run by lint')\n\n"
        "def add(x, y):\n    return x + y\n\n"
        "@shared_task(name='sum-of-two')\ndef total(x, y):\n    return x + y\n"
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "apiVersion: kubecanvas.io/v1alpha1\nkind: Workflow\nmetadata: {name: typo}\n"
        "spec:\n  imports: [mytasks]\n  canvas:\n    chain:\n"
        "    - {task: mytasks.ad, args: [1, 2]}\n    - {task: sum-of-tow, args: [3]}\n"
        "    - {task: elsewhere.anything}\n"
        "    - {task: mytasks.add, args: [1], linkError: {task: mytasks.oops}}\n"
    )
    assert run_cli(["lint", str(flow)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{flow}: spec.canvas.chain[0].task: mytasks.py defines no 'ad' (did you mean 'add'?)",
        f"{flow}: spec.canvas.chain[1].task: no module of spec.imports (mytasks) registers a task named "
        "'sum-of-tow' (did you mean 'sum-of-two'?)",
        f"{flow}: spec.canvas.chain[3].linkError[0].task: mytasks.py defines no 'oops'",
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run_cli(["lint", "--code", str(elsewhere), str(flow)]) == 0, "no code there: nothing to say"
    # `kubecanvas run` says the same before it runs anything (the module would exit at import).
    assert run_cli(["run", str(flow)]) == 1
    assert f"{flow}: spec.canvas.chain[0].task: mytasks.py defines no 'ad'" in capsys.readouterr().err


def test_help_does_not_load_the_runner() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from kubecanvas.cli.app import run_cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert run_cli(['--help']) == 0\n"
        "assert 'run' in out.getvalue() and 'lint' in out.getvalue()\n"
        "heavy = {'kubecanvas.local', 'kubecanvas.engine', 'pydantic', 'yaml', 'redis'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_console_script_json_and_exit_code() -> None:
    done = subprocess.run(
        [KUBECANVAS, "run", "-o", "json", str(case(24).path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)  # nothing but the document on stdout
    assert (document["phase"], document["error"]["taskId"]) == ("Failed", "t1")


def _started(process: subprocess.Popen[str], log_dir: Path, task_log: str, marker: str = "") -> None:
    """Wait until the task's log exists (and, with `marker`, says so): the task is running."""
    deadline = time.monotonic() + 20
    log = log_dir / task_log
    while not (log.exists() and marker in log.read_text(errors="replace")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"the task never started (waiting for {marker!r} in {log})"
        time.sleep(0.05)


def test_ctrl_c_revokes_the_workflow(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [KUBECANVAS, "run", "-o", "json", "--logs", str(tmp_path), str(case(30).path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started(process, tmp_path, "t0.1.log")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 1, err
    document = json.loads(out)
    assert document["phase"] == "Revoked"
    assert document["tasks"][0]["state"] == "REVOKED"
    assert "revoking" in err


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    flow = tmp_path / "stubborn.yaml"
    flow.write_text(
        "apiVersion: kubecanvas.io/v1alpha1\nkind: Workflow\nmetadata: {name: stubborn}\n"
        "spec:\n  canvas: {task: localtasks.stubborn_sleep, args: [60]}\n"
    )
    logs = tmp_path / "logs"
    process = subprocess.Popen(
        [KUBECANVAS, "run", "--code", str(HERE), "--logs", str(logs), str(flow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    _started(process, logs, "t0.1.log", marker="SIGTERM blocked")
    process.send_signal(signal.SIGINT)  # revoke: SIGTERM, which the task ignores
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)  # stop now: SIGKILL
    began = time.monotonic()
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert time.monotonic() - began < 2.5, "it did not wait for the grace period"


def test_quickstart(capsys: pytest.CaptureFixture[str], documents: list[dict[str, Any]]) -> None:
    assert run_cli(["run", str(EXAMPLES / "quickstart.yaml")]) == 0
    assert capsys.readouterr().out == "385\n"
    callback = documents[0]["tasks"][-1]
    assert (callback["task"], callback["result"]) == ("conftasks.echo", [[385, "sum of squares"], {}])
