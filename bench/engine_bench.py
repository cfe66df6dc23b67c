"""How fast the engine digests events on 10,000-task workflows (no I/O, no clock).

    .venv/bin/python bench/engine_bench.py [--tasks 10000] [--parallelism 50] [--repeat 3]

For a group, a chain and a chord of N `add` tasks (and a chord whose header all
fails, to exercise the error paths), it compiles the canvas, then plays the host's
part with the smallest possible loop: every launch is reported `started` then
`succeeded` (or `failed`) in launch order. It prints events per second (two events
per task), the compile time and the time to rebuild an engine from its persisted
records mid-run. The engine's work per event must not grow with N: compare the rates
for --tasks 1000 and --tasks 10000, they should be about the same.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_spec
from kubecanvas.engine import Engine, Launch, Phase, TaskFailure, TaskRecord
from kubecanvas.engine.events import Failed, Start, Started, Succeeded
from kubecanvas.graph import Graph

BOOM = TaskFailure("ValueError", "boom", types=("ValueError", "Exception"))


def _add(i: int) -> dict[str, Any]:
    return {"task": "conftasks.add", "args": [i, i]}


CANVASES: dict[str, Callable[[int], dict[str, Any]]] = {
    "group": lambda n: {"group": [_add(i) for i in range(n)]},
    "chain": lambda n: {"chain": [_add(0)] + [{"task": "conftasks.add", "args": [1]} for _ in range(n - 1)]},
    "chord": lambda n: {
        "chord": {"header": [_add(i) for i in range(n - 1)], "body": {"task": "conftasks.tsum"}}
    },
    "chord-all-fail+errback": lambda n: {
        "chord": {"header": [_add(i) for i in range(n - 1)], "body": {"task": "conftasks.tsum"}},
        "linkError": {"task": "conftasks.log_error"},
    },
}


def run(graph: Graph, parallelism: int, fail: bool) -> tuple[int, float, Engine]:
    engine = Engine(graph, parallelism=parallelism)
    pending: deque[Launch] = deque()
    events = 0
    now = 0.0
    began = time.perf_counter()
    pending.extend(engine.feed(Start(now)).launches)
    while pending:
        launch = pending.popleft()
        node_id, attempt = launch.node.id, launch.attempt
        now += 0.001
        pending.extend(engine.feed(Started(node_id, attempt, now)).launches)
        if fail and launch.node.role == "task" and not launch.node.join:
            step = engine.feed(Failed(node_id, attempt, BOOM, now))
        else:
            step = engine.feed(Succeeded(node_id, attempt, now))
        pending.extend(step.launches)
        events += 2
    elapsed = time.perf_counter() - began
    assert engine.phase in (Phase.SUCCEEDED, Phase.FAILED), engine.phase
    return events, elapsed, engine


def rebuild_seconds(graph: Graph, parallelism: int) -> float:
    """Persist a half-finished run's records and time the rebuild, as an operator restart does."""
    engine = Engine(graph, parallelism=parallelism)
    pending = deque(engine.feed(Start(0.0)).launches)
    for _ in range(len(graph.nodes) // 2):
        if not pending:
            break
        launch = pending.popleft()
        pending.extend(engine.feed(Succeeded(launch.node.id, launch.attempt, 1.0)).launches)
    saved = {task_id: record.to_json() for task_id, record in engine.records.items()}
    began = time.perf_counter()
    Engine(
        graph,
        parallelism=parallelism,
        records={task_id: TaskRecord.from_json(data) for task_id, data in saved.items()},
        phase=engine.phase,
        started_at=engine.started_at,
    )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--parallelism", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    options = parser.parse_args()
    print(f"{options.tasks} tasks, parallelism {options.parallelism}, best of {options.repeat}")
    print(f"{'canvas':<24}{'events':>8}{'events/s':>12}{'run s':>9}{'compile s':>11}{'rebuild s':>11}")
    for name, build in CANVASES.items():
        began = time.perf_counter()
        graph = compile_spec(parse_spec({"canvas": build(options.tasks)}))
        compiled = time.perf_counter() - began
        best: tuple[int, float] | None = None
        for _ in range(options.repeat):
            events, elapsed, _ = run(graph, options.parallelism, fail=name.endswith("errback"))
            if best is None or elapsed < best[1]:
                best = (events, elapsed)
        assert best is not None
        events, elapsed = best
        rebuilt = rebuild_seconds(graph, options.parallelism)
        print(
            f"{name:<24}{events:>8}{events / elapsed:>12,.0f}{elapsed:>9.3f}{compiled:>11.3f}{rebuilt:>11.3f}"
        )


if __name__ == "__main__":
    main()
