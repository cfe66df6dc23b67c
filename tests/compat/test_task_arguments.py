"""A task called with arguments its function cannot take is refused when the call is built,
naming the task and where it stands, as Celery's `apply_async` refuses it (a TypeError) —
for every task of a canvas whose function this process has, not only the first one."""

from __future__ import annotations

import pytest

from kubecanvas import TaskArgumentsError, chord, group, signature


@pytest.mark.parametrize("backend", ["local", "eager", "cluster"])
def test_too_many_or_too_few_arguments_are_refused_before_anything_runs(proj: object, backend: str) -> None:
    """Refused on every back end before anything is sent: the cluster one needs no cluster."""
    from proj.celery import app
    from proj.tasks import add, flaky, mul

    app.conf.kubecanvas_backend = backend
    with pytest.raises(TypeError, match=r"^spec\.canvas: proj\.tasks\.add\(x, y\) cannot take 3 positional"):
        add.delay(1, 2, 3)
    with pytest.raises(
        TaskArgumentsError, match=r"spec\.canvas\.chain\[1\]: proj\.tasks\.mul\(x, y\) cannot take 3"
    ):
        (add.s(1, 2) | mul.s(3, 4)).delay()  # the parent's result comes first
    with pytest.raises(
        TaskArgumentsError, match=r"spec\.canvas\.chord\.body: proj\.tasks\.add\(x, y\) cannot take 1 "
    ):
        chord([add.s(1, 1), add.s(2, 2)], add.s()).delay()
    with pytest.raises(TaskArgumentsError, match=r"cannot take 0 positional arguments and keywords \['z'\]"):
        add.apply_async(kwargs={"z": 1})
    with pytest.raises(TaskArgumentsError, match=r"proj\.tasks\.flaky\(key\)"):  # `self` is not counted
        flaky.delay()


def test_what_fits_is_left_alone(proj: object) -> None:
    from proj.celery import app
    from proj.tasks import add, flaky, mul, xsum

    app.conf.kubecanvas_backend = "eager"
    assert (add.s(1, 2) | mul.s(3)).delay().get() == 9
    assert chord([add.s(1, 1), add.s(2, 2)], xsum.s()).delay().get() == 6
    assert add.apply_async(kwargs={"x": 1, "y": 2}).get() == 3
    assert add.s(1).delay(2).get() == 3  # call-time arguments count
    assert group(add.si(1, 1), flaky.s("k"))().get() == [2, "k after 1 retry"]
    # A task only named here is checked where it runs, never imported to be checked.
    assert signature("builtins.divmod", args=(7, 2)).to_workflow("named-only")["spec"]["canvas"]["args"] == [
        7,
        2,
    ]
