"""`kubecanvas-runtime`: run one task attempt.

In a pod (the default) it reads what to run from its environment and Redis, and
reports there. With `--runner` it is a warm runner (`runner.py`): it runs attempt after
attempt of a pool, each in a process of its own. The local runner uses `--input FILE
--outcome FILE` instead: the same execution, with the inputs and the outcome passed as files.

Exit codes tell `kubectl get jobs` the truth (`kubecanvas.execution.exit_codes`): 0
succeeded, 1 the task failed, 3 it asked for a retry, 4 it had expired, 70 the runtime
itself could not work, 75 Redis stayed unreachable (worth another attempt).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kubecanvas._kits.jsonvalues import JSON, JSONObject, dumps
from kubecanvas.execution.attempt import Execution, describe_exception, run_attempt
from kubecanvas.execution.environment import ATTEMPT, RUNNER_FLAG, WORKFLOW, WORKFLOW_UID, imports_from
from kubecanvas.execution.exit_codes import (
    EXIT_CODES,
    EXIT_RUNTIME_ERROR,
    EXIT_STORE_UNREACHABLE,
    TERMINATION_MESSAGE_PATH,
)
from kubecanvas.store.layout import Outcome
from kubecanvas.store.taskside import MISSING, TaskInputs

if TYPE_CHECKING:
    from kubecanvas.execution.environment import RuntimeSettings


def log(message: str) -> None:
    print(f"[kubecanvas] {message}", file=sys.stderr, flush=True)


def give_up(message: str, code: int) -> int:
    """Log why the attempt ends without a report and leave it where the kubelet shows it to
    the operator (the pod's termination message), so the task's error can say it too."""
    log(message)
    path = Path(TERMINATION_MESSAGE_PATH)
    if path.exists():  # the kubelet made it: in a pod (never create it on a host)
        with contextlib.suppress(OSError):
            path.write_text(message + "\n")
    return code


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if not arguments:  # a pod: every task pays for what is imported before its task runs
        return run_in_pod()
    import argparse  # ~9 ms with gettext: only for the local mode's options

    parser = argparse.ArgumentParser(prog="kubecanvas-runtime", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=Path, help="local mode: the task's inputs as JSON (from the local runner)"
    )
    parser.add_argument("--outcome", type=Path, help="local mode: where to write the outcome as JSON")
    parser.add_argument(
        RUNNER_FLAG,
        dest="runner",
        action="store_true",
        help="a warm runner: run the attempts of a pool's queue in turn",
    )
    options = parser.parse_args(arguments)
    if options.runner:
        from kubecanvas_runtime.runner import serve

        return serve()
    if options.input or options.outcome:
        if not (options.input and options.outcome):
            parser.error("--input and --outcome go together")
        return run_local(options.input, options.outcome)
    return run_in_pod()


def run_in_pod() -> int:
    # Imported here: the local mode needs neither Redis nor the code-source machinery.
    from kubecanvas.errors import ConfigurationError
    from kubecanvas.execution.environment import RuntimeSettings

    try:
        settings = RuntimeSettings.from_environ()
    except ConfigurationError as error:
        return give_up(f"cannot start: {error}", EXIT_RUNTIME_ERROR)
    return run_settings(settings)


def run_settings(settings: RuntimeSettings, *, code_installed: bool = False) -> int:
    """Run the attempt `settings` name and report it: a task pod's whole work, and a warm
    runner's forked process's (`runner.py`, whose code is installed already)."""
    from kubecanvas.errors import CodeSourceError, StoreConnectionError, StoreError
    from kubecanvas.store.taskside import TaskStore, connect
    from kubecanvas_runtime.codesource import install_code

    workflow = settings.workflow or settings.workflow_uid
    label = f"task {settings.task_id} attempt {settings.attempt} of workflow {workflow}"
    try:
        store = TaskStore(
            connect(
                settings.redis_url,
                settings.redis_password,
                username=settings.redis_username,
                ca=settings.redis_ca,
            ),
            settings.workflow_uid,
            settings.events_stream,
        )
        if settings.expires_at is not None and time.time() > settings.expires_at:
            log(f"{label} expired before it started")
            store.record_outcome(
                settings.task_id, settings.attempt, Outcome("expired", finished_at=time.time())
            )
            return EXIT_CODES["expired"]
        if not code_installed:
            try:
                install_code(settings.code, settings.namespace)
            except CodeSourceError as error:
                log(f"{label}: {error}")
                failure = describe_exception(error)
                store.record_outcome(
                    settings.task_id,
                    settings.attempt,
                    Outcome("failed", error=failure, finished_at=time.time()),
                )
                return EXIT_CODES["failed"]
        inputs = store.load(settings.task_id)
        log(f"running {inputs.node.task} ({label})")

        def announce(args: list[JSON], kwargs: JSONObject) -> None:
            store.record_start(settings.task_id, settings.attempt, args, kwargs, time.time())

        execution = run_attempt(
            inputs,
            settings.attempt,
            settings.workflow,
            on_start=announce,
            workflow_uid=settings.workflow_uid,
            imports=settings.imports,
        )
        value = execution.value if execution.succeeded else MISSING
        store.record_outcome(settings.task_id, settings.attempt, execution.outcome, value)
    except StoreConnectionError as error:
        where = safe_url(settings.redis_url)
        return give_up(
            f"{label}: Redis at {where} is unreachable after retrying: {error}", EXIT_STORE_UNREACHABLE
        )
    except StoreError as error:
        where = safe_url(settings.redis_url)
        return give_up(f"{label}: Redis at {where} refused a command: {error}", EXIT_RUNTIME_ERROR)
    except LookupError as error:
        return give_up(f"{label}: {error}", EXIT_RUNTIME_ERROR)
    return report(execution)


def run_local(input_path: Path, outcome_path: Path) -> int:
    inputs = TaskInputs.from_json(json.loads(input_path.read_text()))
    attempt = int(os.environ.get(ATTEMPT, "1"))
    execution = run_attempt(
        inputs,
        attempt,
        os.environ.get(WORKFLOW, ""),
        workflow_uid=os.environ.get(WORKFLOW_UID, ""),
        imports=imports_from(os.environ),
    )
    document = {
        "outcome": execution.outcome.to_json(),
        "value": execution.value,
        "args": execution.args,
        "kwargs": execution.kwargs,
    }
    outcome_path.write_text(dumps(document))
    return report(execution)


def report(execution: Execution) -> int:
    outcome = execution.outcome
    elapsed = (outcome.finished_at or 0) - (outcome.started_at or 0)
    if outcome.kind == "succeeded":
        log(f"succeeded in {elapsed:.3f}s")
    elif outcome.error is not None:
        if outcome.kind == "failed" and outcome.error.traceback:
            print(outcome.error.traceback, file=sys.stderr, end="", flush=True)
        log(f"{outcome.kind}: {outcome.error.describe()}")
    return EXIT_CODES[outcome.kind]


def safe_url(url: str) -> str:
    """The URL without a password, for logs."""
    if "@" in url:
        scheme, rest = url.split("://", 1) if "://" in url else ("", url)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    sys.exit(main())
