"""A group's result on the local and eager back ends has Celery's GroupResult surface:
`results`, `join`, `completed_count`, iteration, each member a task's own result."""

from __future__ import annotations

import pytest

from kubecanvas import group


@pytest.mark.parametrize("backend", ["local", "eager"])
def test_a_groups_members_are_results_of_their_own(proj: object, backend: str) -> None:
    from proj.celery import app
    from proj.tasks import add

    app.conf.kubecanvas_backend = backend
    result = group(add.s(i, i) for i in range(4))()
    assert result.join() == [0, 2, 4, 6]
    assert result.completed_count() == 4
    assert [member.get() for member in result] == [0, 2, 4, 6]
    assert len(result) == 4
    first = result.results[0]
    assert (first.id, first.state, first.children) == (result.document()["tasks"][0]["uuid"], "SUCCESS", [])


def test_a_failed_member_is_the_one_that_raises(proj: object) -> None:
    from proj.celery import app
    from proj.tasks import add

    app.conf.task_always_eager = True
    result = group(add.s(1, 1), add.s(1, None))()
    assert [member.state for member in result] == ["SUCCESS", "FAILURE"]
    assert result.completed_count() == 1
    assert result.results[0].get() == 2
    with pytest.raises(TypeError, match="unsupported operand"):
        result.results[1].get()
    assert isinstance(result.join(propagate=False)[1], TypeError)
    assert result.failed()
