"""A warm runner's log, read back attempt by attempt (`kubecanvas logs`)."""

from __future__ import annotations

from kubecanvas.execution.logmarks import begin_mark, end_mark, split_attempts


def test_each_attempts_lines_are_those_between_its_marks() -> None:
    log = [
        "[kubecanvas] runner r1 of pool p ready",
        begin_mark("t0", 1),
        "hello from t0",
        end_mark("t0", 1),
        "[kubecanvas] task t9 attempt 1: not run: killed (revoked)",
        begin_mark("t1.2", 3),
        "hello from t1.2",
        "Traceback ...",
    ]
    assert split_attempts(log) == {
        ("t0", 1): ["hello from t0"],
        ("t1.2", 3): ["hello from t1.2", "Traceback ..."],  # its runner died before its end mark
    }


def test_a_task_printing_something_like_a_mark_does_not_end_its_own_attempt() -> None:
    log = [begin_mark("t0", 1), "[kubecanvas] <<< task t0 attempt 1 (not quite)", end_mark("t0", 1)]
    assert split_attempts(log) == {("t0", 1): ["[kubecanvas] <<< task t0 attempt 1 (not quite)"]}
