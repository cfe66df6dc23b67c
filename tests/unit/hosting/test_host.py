"""The one host loop, pinned down with recording collaborators: the order every program
(operator, local runner, eager mode, simulator) relies on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from kubecanvas.engine.effects import Kill, Launch, Step
from kubecanvas.engine.events import Revoke, Start, Started, Succeeded, Tick
from kubecanvas.engine.machine import Engine
from kubecanvas.graph.nodes import TaskNode
from kubecanvas.hosting import LoopAlarm, WorkflowHost
from support.simulation import chain, compile_canvas, group, sig


class Recorder:
    """Launcher, store and alarm at once: writes down what the host asked, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.alarms: list[float | None] = []

    def launch(self, host: WorkflowHost, launch: Launch) -> None:
        self.log.append(("launch", launch.node.id))

    def kill(self, host: WorkflowHost, kill: Kill) -> None:
        self.log.append(("kill", kill.task_id))

    async def save_step(
        self, uid: str, engine: Engine, changed: Iterable[str], new_nodes: Iterable[TaskNode]
    ) -> None:
        self.log.append(("save", sorted(changed)))

    def set(self, host: WorkflowHost, at: float | None) -> None:
        self.alarms.append(at)


def host_for(canvas: dict[str, Any], recorder: Recorder, **options: Any) -> WorkflowHost:
    engine = Engine(compile_canvas(canvas), parallelism=10)
    clock = options.pop("clock", lambda: 100.0)
    return WorkflowHost(
        "wf", engine, launcher=recorder, alarm=recorder, store=recorder, clock=clock, **options
    )


def test_a_step_is_persisted_before_anything_is_launched() -> None:
    recorder = Recorder()
    host = host_for(chain(sig("add", 1, 1), sig("mul", 3)), recorder)
    asyncio.run(host.feed(Start))
    assert recorder.log == [("save", ["t0"]), ("launch", "t0")]


def test_a_revoke_is_persisted_then_kills_every_running_attempt() -> None:
    recorder = Recorder()
    host = host_for(group(sig("add", 1, 1), sig("add", 2, 2)), recorder)

    async def main() -> None:
        await host.feed(Start)
        recorder.log.clear()
        await host.feed(Revoke)

    asyncio.run(main())
    kinds = [kind for kind, _ in recorder.log]
    assert kinds[0] == "save"
    assert sorted(task for kind, task in recorder.log if kind == "kill") == ["t0", "t1"]
    assert "launch" not in kinds


def test_a_batch_of_news_is_one_persisted_step() -> None:
    recorder = Recorder()
    host = host_for(group(sig("add", 1, 1), sig("add", 2, 2)), recorder)

    async def main() -> Step | None:
        await host.feed(Start)
        recorder.log.clear()
        return await host.feed(
            lambda now: Started("t0", 1, now),
            lambda now: Started("t1", 1, now),
            lambda now: Succeeded("t0", 1, now),
        )

    step = asyncio.run(main())
    assert step is not None
    assert step.changed == {"t0", "t1"}
    assert [kind for kind, _ in recorder.log] == ["save"]


def test_events_are_stamped_with_the_hosts_clock_under_the_lock() -> None:
    recorder = Recorder()
    host = host_for(sig("add", 1, 1), recorder, clock=lambda: 42.0)
    asyncio.run(host.feed(Start))
    assert host.engine.started_at == 42.0


def test_the_end_is_announced_once_and_later_news_is_refused_after_close() -> None:
    recorder = Recorder()
    finished: list[str] = []

    async def on_finished(host: WorkflowHost) -> None:
        finished.append(host.engine.phase.value)
        host.close()

    host = host_for(sig("add", 1, 1), recorder, on_finished=on_finished)

    async def main() -> Step | None:
        await host.feed(Start)
        await host.feed(lambda now: Started("t0", 1, now), lambda now: Succeeded("t0", 1, now))
        await host.wait()
        return await host.feed(Tick)

    assert asyncio.run(main()) is None
    assert finished == ["Succeeded"]
    assert recorder.alarms[-1] is None  # closing cancelled the alarm


def test_after_step_sees_every_step_under_the_lock() -> None:
    recorder = Recorder()
    seen: list[bool] = []

    async def after_step(host: WorkflowHost, step: Step) -> None:
        seen.append(host.lock.locked())

    host = host_for(sig("add", 1, 1), recorder, after_step=after_step)
    asyncio.run(host.feed(Start))
    assert seen == [True]


def test_background_work_that_fails_ends_the_wait_with_its_error() -> None:
    recorder = Recorder()
    host = host_for(sig("add", 1, 1), recorder)

    async def broken() -> None:
        raise RuntimeError("the store broke")

    async def main() -> None:
        await host.feed(Start)
        host.spawn(broken())
        await host.wait()

    with pytest.raises(RuntimeError, match="the store broke"):
        asyncio.run(main())


def test_the_loop_alarm_feeds_a_tick_when_a_countdown_is_due() -> None:
    recorder = Recorder()
    clock = [1000.0]
    engine = Engine(compile_canvas(sig("add", 1, 1, options={"countdown": 0.05})), parallelism=1)
    host = WorkflowHost(
        "wf", engine, launcher=recorder, alarm=LoopAlarm(), store=recorder, clock=lambda: clock[0]
    )

    async def main() -> None:
        await host.feed(Start)
        assert ("launch", "t0") not in recorder.log  # not due yet
        clock[0] += 0.05
        await asyncio.sleep(0.1)
        await host.settle_background()

    asyncio.run(main())
    assert ("launch", "t0") in recorder.log
