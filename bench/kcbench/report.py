"""results.md: the figures as tables, and what limits each one, from results.json."""

# Markdown table rows read best as one f-string each, whatever their length.
# ruff: noqa: E501

from __future__ import annotations

from typing import Any

__all__ = ["write_markdown"]

# The parts of the system whose CPU and RSS each scenario records (kcbench.procs): the
# cluster's processes by their pid files' names, the benchmark's operator and itself.
COMPONENTS = (
    "pods (kubepods cgroup: every pod on the node)",
    "containerd-shim-runc-v2 (every shim on the node)",
    "bench (this process: watches)",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "containerd",
    "operator",
    "redis",
    "registry",
)
SCENARIO_NAMES = ("hop", "fanout", "chord", "chunks", "warm-hop", "warm-fanout", "scale")
WARM_NAMES = ("warm-hop", "warm-fanout")  # the hop and fan-out in warm runners
# The targets for warm runners: hop p50 (ms) at most, fan-out tasks/min at least this
# share of Celery's on the same machine in the same run.
WARM_HOP_TARGET_MS = 50.0
WARM_FANOUT_TARGET_SHARE = 0.25


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _num(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | float):
        text = f"{value:,.{digits}f}" if isinstance(value, float) or digits else f"{value:,}"
        return text + unit
    return str(value)


def _ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or not theirs:
        return "n/a"
    return f"{ours / theirs:,.1f}x"


def _dist(value: Any) -> str:
    if not isinstance(value, dict) or not value.get("n"):
        return "n/a"
    return f"{_num(value['p50'])} / {_num(value['p95'])} / {_num(value['max'])}"


def _per_task(scenario: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per task, by component, over one scenario."""
    cpu = scenario.get("cpu_seconds") or {}
    tasks = scenario.get("tasks") or 0
    if not tasks:
        return {}
    return {name: 1000 * float(cpu[name]) / tasks for name in COMPONENTS if name in cpu}


def _busy_share(scenario: dict[str, Any]) -> float | None:
    cpu = scenario.get("cpu_seconds") or {}
    busy, idle, steal = cpu.get("machine busy"), cpu.get("machine idle"), cpu.get("machine steal")
    if busy is None or idle is None:
        return None
    total = busy + idle + (steal or 0)
    return 100 * busy / total if total else None


def warm_targets(hop: dict[str, Any], fan: dict[str, Any], celery_fan: dict[str, Any]) -> list[str]:
    """The warm runners' two figures beside the issue's targets, as numbers."""
    hop_p50 = _get(hop, "end_to_end_ms", "p50")
    ours, theirs = fan.get("tasks_per_minute"), celery_fan.get("tasks_per_minute")
    share = f"{100 * ours / theirs:.1f} %" if isinstance(ours, int | float) and theirs else "n/a"
    return [
        "",
        f"Warm runners against the issue's targets: hop p50 {_num(hop_p50)} ms (target ≤ "
        f"{WARM_HOP_TARGET_MS:g} ms); fan-out {_num(ours)} tasks/min = {share} of Celery's "
        f"{_num(theirs)} in this run (target ≥ {100 * WARM_FANOUT_TARGET_SHARE:g} %).",
    ]


def warm_details(ours: dict[str, Any], machine: dict[str, Any]) -> list[str]:
    """The warm runners' hop, where it goes, and the runners each scenario had."""
    hop, fan = (ours.get(k) or {} for k in WARM_NAMES)
    if not (hop or fan):
        return []

    def runners(section: dict[str, Any]) -> str:
        return (
            f"{_num(section.get('runner_jobs_created'), 0)} runner Jobs, "
            f"{_num(section.get('runner_pods_created'), 0)} runner pods (the first Job "
            f"{_num(section.get('first_runner_job_seconds'), 2)} s, the last "
            f"{_num(section.get('last_runner_job_seconds'), 2)} s after the Workflow's creation; the first "
            f"runner's container seen started at {_num(section.get('first_runner_started_seen_seconds'), 2)} s; "
            f"pod created → container seen started {_dist(section.get('runner_pod_created_to_started_seen_ms'))} ms)"
        )

    lines = [
        "",
        "## Warm runners (kubecanvas)",
        "",
        'The same canvases with `spec.defaults: {"runner": "warm"}`: no Job per task; the operator queues '
        "each attempt in Redis and runner pods (Jobs labelled `kubecanvas.io/runner-pool`) take them and "
        "run each in a forked process. Its instants are the runtime's own (`startedAt`, `finishedAt` "
        "in the outcomes hash) and the operator's (the engine record); there is no container per task. "
        f"Operator settings: {', '.join(f'`{k}` {v}' for k, v in (machine.get('warm_runners') or {}).items()) or 'n/a'}.",
        "",
        "| figure | p50 / p95 / max, ms, or value | what |",
        "| --- | --- | --- |",
    ]
    if hop:
        lines.append(
            f"| warm hop ({hop.get('tasks', '?')}-task chain, {hop.get('hops', '?')} hops) | "
            f"{_dist(hop.get('end_to_end_ms'))} | task i-1's finishedAt → task i's startedAt |"
        )
        meaning = hop.get("segment_meaning") or {}
        for key, value in (hop.get("segments_ms") or {}).items():
            lines.append(f"| {key} | {_dist(value)} | {meaning.get(key, '')} |")
        lines += [
            f"| start to start | {_dist(hop.get('start_to_start_ms'))} | task i-1's startedAt → task i's |",
            f"| (task) | {_dist(hop.get('task_body_ms'))} | the runtime's startedAt → finishedAt (the no-op) |",
            f"| startedAt → its `started` report in Redis | "
            f"{_dist(hop.get('runtime_startedat_to_started_report_ms'))} | the call's arguments, then the report's round trip |",
            f"| whole chain | {_num(hop.get('total_seconds'), 2)} s | the Workflow's creation → Succeeded seen ({hop.get('phase')}) |",
            f"| runners, chain | {runners(hop)} | |",
        ]
        step = _get(hop, "operator_metrics", "step_latency") or {}
        if step.get("n"):
            lines.append(
                f"| the operator's `kubecanvas_step_latency_seconds` over the chain | mean {step['mean']}, "
                f"p50 ≈ {step['p50']}, p95 ≈ {step['p95']} (n={step['n']}) | bucket estimates |"
            )
    if fan:
        lines += [
            f"| warm fan-out ({fan.get('tasks', '?')} no-ops, parallelism {fan.get('parallelism', '?')}) | "
            f"{_num(fan.get('total_seconds'), 2)} s, {_num(fan.get('tasks_per_minute'))} tasks/min | "
            f"the Workflow's creation → Succeeded seen ({fan.get('phase')}; result "
            f"{'ok' if fan.get('result_ok') else 'NOT ok'}) |",
            f"| first task started / first done / last done | {_num(fan.get('first_task_started_seconds'), 2)} s / "
            f"{_num(fan.get('first_task_done_seconds'), 2)} s / {_num(fan.get('last_task_done_seconds'), 2)} s | "
            "after the Workflow's creation (the runtime's startedAt and finishedAt) |",
            f"| tasks/min, first start → last end | {_num(fan.get('tasks_per_minute_first_start_to_last_end'))} | "
            "the rate once runners run: without their pods' start, nor the final status write and its watch |",
            f"| runners, fan-out | {runners(fan)} | |",
        ]
    return lines


def write_markdown(results: dict[str, Any]) -> str:
    ours: dict[str, Any] = results.get("kubecanvas") or {}
    celery: dict[str, Any] = results.get("celery") or {}
    machine = results.get("machine") or {}
    lines: list[str] = [
        "# kubecanvas benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); the raw figures are in `results.json`, what each "
        "figure means in `docs/benchmarks.md`. Timings are reported, never judged.",
        "",
        f"- run: {results.get('started')} → {results.get('finished')} "
        f"({_num((results.get('duration_seconds') or 0) / 60)} min)",
        f"- machine: {machine.get('cpus')} CPUs, {machine.get('memory_gb')} GB, kernel {machine.get('kernel')}",
        f"- load before: `{machine.get('load_before')}`",
        f"- load after: `{machine.get('load_after')}` (during and just after a run the load average counts "
        "the benchmark's own task pods; the figure before it is the rest of the machine's work)",
        f"- versions: {', '.join(f'{k} {v}' for k, v in (results.get('versions') or {}).items())}",
        f"- Celery: {celery.get('setup', 'not run')}",
        f"- operator profile: {'py-spy attached' if _get(results, 'options', 'no_profile') != 'True' else 'off'}"
        f"; operator serves /metrics: {machine.get('operator_serves_metrics')}",
    ]
    if machine.get("runtime_image"):
        lines.append(
            f"- task pods: `{machine['runtime_image']}`; the operator watches "
            f"{', '.join(f'`{n}`' for n in machine.get('operator_namespaces') or [])}"
        )
    if machine.get("warm_runners"):
        lines.append(
            "- warm runners (the operator's settings): "
            + ", ".join(f"`{k}` {v}" for k, v in machine["warm_runners"].items())
        )
    if machine.get("task_pods"):
        lines.append(f"- task pods' filesystem: {machine['task_pods']}")
    settled = [
        f"{section} {name} {_num(100 * figures['settle']['busy_share_before'], 0)} % "
        f"({_num(figures['settle']['waited_seconds'], 0)} s)"
        for section in ("kubecanvas", "celery")
        for name, figures in (results.get(section) or {}).items()
        if isinstance(figures, dict) and isinstance(figures.get("settle"), dict)
    ]
    if isinstance(celery.get("settle"), dict):  # Celery's scenarios run as one
        quiet = celery["settle"]
        settled.append(
            f"celery {_num(100 * quiet['busy_share_before'], 0)} % ({_num(quiet['waited_seconds'], 0)} s)"
        )
    if settled:
        lines.append(
            "- how busy the machine was when each scenario started (after waiting, at most 180 s, "
            "for it to fall under 50 %): " + "; ".join(settled)
        )
    if machine.get("other_operators"):
        lines.append(
            "- the cluster was shared with operators watching other namespaces (their pods' CPU is in "
            "the node-wide rows below): " + "; ".join(f"`{o}`" for o in machine["other_operators"])
        )
    if results.get("errors"):
        lines += ["", "**Errors:**", *[f"- {error}" for error in results["errors"]]]

    hop, fan, chord, chunks, scale = (
        ours.get(k) or {} for k in ("hop", "fanout", "chord", "chunks", "scale")
    )
    w_hop, w_fan = (ours.get(k) or {} for k in WARM_NAMES)
    c_hop, c_fan, c_chord, c_chunks = (celery.get(k) or {} for k in ("hop", "fanout", "chord", "chunks"))
    warm = bool(w_hop or w_fan)

    def celery_row(
        label: str, kc: str, cel: str, ratio: str, warm_cells: tuple[str, str] = ("n/a", "n/a")
    ) -> str:
        """One row; with warm runners in the run, their figure after kubecanvas's and their
        ratio to Celery last."""
        cells = [label, kc, *warm_cells[:1], cel, ratio, *warm_cells[1:]] if warm else [label, kc, cel, ratio]
        return "| " + " | ".join(cells) + " |"

    def hop_p50s(section: dict[str, Any]) -> str:
        return _ratio(_get(section, "end_to_end_ms", "p50"), _get(c_hop, "end_to_end_ms", "p50")) + " (p50)"

    warm_runner_jobs = (
        f"{_num(w_fan.get('last_runner_job_seconds'), 2)} ({_num(w_fan.get('runner_jobs_created'), 0)} runner Jobs)"
        if w_fan
        else "n/a"
    )
    lines += [
        "",
        "## kubecanvas and Celery",
        "",
        "Latencies in ms as p50 / p95 / max. Ratio: kubecanvas ÷ Celery (time; for rates, Celery ÷ kubecanvas "
        "is the same story)."
        + (
            " kubecanvas runs a pod per task; *warm runners* run the same canvases with "
            '`spec.defaults: {"runner": "warm"}` (each task a forked process of a long-lived runner pod).'
            if warm
            else ""
        ),
        "",
        "| figure | kubecanvas | kubecanvas, warm runners | Celery | ratio | ratio, warm runners |"
        if warm
        else "| figure | kubecanvas | Celery | ratio |",
        "| --- | --- | --- | --- | --- | --- |" if warm else "| --- | --- | --- | --- |",
        celery_row(
            f"hop ({hop.get('tasks') or w_hop.get('tasks', '?')}-task chain): result written → next task started",
            _dist(hop.get("end_to_end_ms")),
            _dist(c_hop.get("end_to_end_ms")),
            hop_p50s(hop),
            (_dist(w_hop.get("end_to_end_ms")), hop_p50s(w_hop)),
        ),
        celery_row(
            "hop: result written → next Job created (operator overhead)",
            _dist(hop.get("operator_overhead_ms")),
            "n/a",
            "n/a",
        ),
        celery_row(
            "hop: whole chain, s",
            _num(hop.get("total_seconds"), 2),
            _num(c_hop.get("total_seconds"), 2),
            _ratio(hop.get("total_seconds"), c_hop.get("total_seconds")),
            (
                _num(w_hop.get("total_seconds"), 2),
                _ratio(w_hop.get("total_seconds"), c_hop.get("total_seconds")),
            ),
        ),
        celery_row(
            f"fan-out ({fan.get('tasks') or w_fan.get('tasks', '?')} no-ops): all Jobs created, s",
            _num(fan.get("all_jobs_created_seconds"), 2),
            "n/a",
            "n/a",
            (warm_runner_jobs, "n/a"),
        ),
        celery_row(
            "fan-out: all done, s",
            _num(fan.get("total_seconds"), 2),
            _num(c_fan.get("total_seconds"), 2),
            _ratio(fan.get("total_seconds"), c_fan.get("total_seconds")),
            (
                _num(w_fan.get("total_seconds"), 2),
                _ratio(w_fan.get("total_seconds"), c_fan.get("total_seconds")),
            ),
        ),
        celery_row(
            "fan-out: tasks/min",
            _num(fan.get("tasks_per_minute")),
            _num(c_fan.get("tasks_per_minute")),
            _ratio(c_fan.get("tasks_per_minute"), fan.get("tasks_per_minute")),
            (
                _num(w_fan.get("tasks_per_minute")),
                _ratio(c_fan.get("tasks_per_minute"), w_fan.get("tasks_per_minute")),
            ),
        ),
        celery_row(
            f"chord ({chord.get('header', '?')} + sum): total, s",
            _num(chord.get("total_seconds"), 2),
            _num(c_chord.get("total_seconds"), 2),
            _ratio(chord.get("total_seconds"), c_chord.get("total_seconds")),
        ),
        celery_row(
            "chord: tasks/min",
            _num(chord.get("tasks_per_minute")),
            _num(c_chord.get("tasks_per_minute")),
            _ratio(c_chord.get("tasks_per_minute"), chord.get("tasks_per_minute")),
        ),
        celery_row(
            f"chunks ({chunks.get('items', '?')} items / {chunks.get('chunks', '?')} chunks): total, s",
            _num(chunks.get("total_seconds"), 2),
            _num(c_chunks.get("total_seconds"), 2),
            _ratio(chunks.get("total_seconds"), c_chunks.get("total_seconds")),
        ),
        celery_row(
            "chunks: tasks/min (items/min)",
            f"{_num(chunks.get('tasks_per_minute'))} ({_num(chunks.get('items_per_minute'), 0)})",
            f"{_num(c_chunks.get('tasks_per_minute'))} ({_num(c_chunks.get('items_per_minute'), 0)})",
            _ratio(c_chunks.get("tasks_per_minute"), chunks.get("tasks_per_minute")),
        ),
        *(warm_targets(w_hop, w_fan, c_fan) if warm else []),
        "",
        "Results checked: "
        + ", ".join(
            f"{name} {'ok' if (ours.get(name) or {}).get('result_ok') else 'NOT ok'}"
            for name in ("fanout", "chord", "chunks", "warm-fanout", "scale")
            if name in ours
        ),
    ]

    lines += argo_table(results)
    lines += warm_details(ours, machine)

    rows = [name for name in ("fanout", "chord", "chunks", "scale") if name in ours]
    if rows:
        lines += [
            "",
            "## Throughput details (kubecanvas)",
            "",
            "| scenario | first Job, s | all Jobs, s | first task done, s | Job created → task started, ms p50 / p95 / max | pod created → container started, ms p50 / p95 / max | container lifetime, ms p50 / p95 / max | Workflow max bytes |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row_name in rows:
            s = ours[row_name]
            lines.append(
                f"| {row_name} | {_num(s.get('first_job_seconds'), 2)} | {_num(s.get('all_jobs_created_seconds'), 2)} | "
                f"{_num(s.get('first_task_done_seconds'), 2)} | {_dist(s.get('job_created_to_task_started_ms'))} | "
                f"{_dist(s.get('pod_created_to_container_started_ms'))} | "
                f"{_dist(s.get('container_lifetime_ms') or s.get('pod_process_lifetime_ms'))} | {_num(s.get('workflow_max_bytes'), 0)} |"
            )
    if chunks.get("stored_canvas_bytes"):
        keys = ", ".join(
            f"{key} {size:,}" for key, size in (chunks.get("workflow_keys_bytes") or {}).items() if size
        )
        lines += [
            "",
            f"chunks: its canvas ({chunks['stored_canvas_bytes']:,} bytes of JSON) was kept out of the "
            f"Workflow, in Redis (docs/large-workflows.md); the Workflow object was at most "
            f"{_num(chunks.get('workflow_max_bytes'), 0)} bytes. The workflow's Redis keys, bytes: {keys}.",
        ]

    if hop:
        lines += [
            "",
            "## Where a hop's time goes (kubecanvas)",
            "",
            f"From task *i-1*'s result written to task *i* started (end to end {_dist(hop.get('end_to_end_ms'))} ms, "
            f"{hop.get('hops')} hops). Each part is measured between its own two ends; p50s need not add up.",
            "",
            "| part | p50 / p95 / max, ms | what |",
            "| --- | --- | --- |",
        ]
        part_meaning = hop.get("part_meaning") or {}
        for key, value in (hop.get("parts_ms") or {}).items():
            lines.append(f"| {key} | {_dist(value)} | {part_meaning.get(key, '')} |")
        lines.append(
            f"| (task) | {_dist(hop.get('task_body_ms'))} | the runtime's startedAt → finishedAt (the no-op, its import, the call) |"
        )
        lines.append(
            f"| (report) | {_dist(_get(hop, 'segments_ms', 'report'))} | result written → the operator applied it (the first millis of the next hop's operator part) |"
        )
        lines += [
            "",
            "Finer, between consecutive instants (their differences add up to the hop; where an instant "
            f"was not found the two segments around it are missing; records found: "
            f"{', '.join(f'{k} {v}' for k, v in (hop.get('node_records') or {}).items()) or 'n/a'}):",
            "",
            "| segment | p50 / p95 / max, ms | what |",
            "| --- | --- | --- |",
        ]
        meaning = hop.get("segment_meaning") or {}
        for key, value in (hop.get("segments_ms") or {}).items():
            lines.append(f"| {key} | {_dist(value)} | {meaning.get(key, '')} |")
        api_view = hop.get("api_view_ms") or {}
        if api_view:
            api_meaning = hop.get("api_view_meaning") or {}
            lines += [
                "",
                "As the API shows it (receipt of the pod's versions by the benchmark's watch; the kubelet "
                "reports status on its own schedule). The API's own timestamps have whole seconds only; "
                f"its container startedAt agreed with containerd's to the second for {hop.get('api_started_at_matches_node', 'n/a')} pods.",
                "",
                "| figure | p50 / p95 / max, ms | what |",
                "| --- | --- | --- |",
            ]
            for key, value in api_view.items():
                lines.append(f"| {key} | {_dist(value)} | {api_meaning.get(key, '')} |")
            lines.append(
                f"| runtime startedAt → its `started` report in Redis | {_dist(hop.get('runtime_startedat_to_started_report_ms'))} | "
                "the task module's import and the call's arguments, then the report's round trip |"
            )
        metrics = hop.get("operator_metrics") or {}
        step = metrics.get("step_latency") or {}
        if step.get("n"):
            lines += [
                "",
                f"The operator's own `kubecanvas_step_latency_seconds` over the hop run: n={step['n']}, "
                f"mean {step['mean']} ms, p50 ≈ {step['p50']} ms, p95 ≈ {step['p95']} ms (bucket estimates); "
                f"`kubecanvas_report_delay_seconds`: mean {_get(metrics, 'report_delay', 'mean')} ms.",
            ]
        startup = hop.get("runtime_startup") or {}
        if startup:
            packages = ", ".join(
                f"`{name}` {ms}"
                for name, ms in list((startup.get("runtime_top_level_imports_ms") or {}).items())[:8]
            )
            own = ", ".join(
                f"`{name}` {ms}"
                for name, ms in list((startup.get("runtime_largest_self_ms") or {}).items())[:8]
            )
            lines += [
                "",
                f"Runtime start-up in a task pod (`python -X importtime -m kubecanvas_runtime`, warm): imports "
                f"{_num(startup.get('runtime_import_ms'))} ms, whole process {_num(startup.get('runtime_process_lifetime_ms'))} ms "
                f"(container start → exit, containerd's record); a bare `python -c pass` imports {_num(startup.get('bare_python_import_ms'))} ms "
                f"and lives {_num(startup.get('bare_python_process_lifetime_ms'))} ms. Largest top-level imports (cumulative ms): {packages}; most time of their own (ms): {own}.",
            ]

    if scale:
        redis_mem = scale.get("redis") or {}
        op = scale.get("operator") or {}
        lines += [
            "",
            f"## Scale: a group of {scale.get('tasks')} under parallelism {scale.get('parallelism')}"
            + (" in warm runners" if scale.get("runner") == "warm" else ""),
            "",
            "| figure | value |",
            "| --- | --- |",
            f"| total time | {_num((scale.get('total_seconds') or 0) / 60)} min (estimate was {scale.get('estimate_minutes')} min) |",
            f"| tasks/min | {_num(scale.get('tasks_per_minute'))} |",
            f"| operator peak RSS | {_num(op.get('peak_rss_mb'))} MB (start {_num(op.get('start_rss_mb'))} MB, "
            f"end {_num(op.get('end_rss_mb'))} MB) |",
            f"| operator CPU | {_num(op.get('cpu_seconds'))} s, mean {_num(op.get('mean_cpu_percent'))} % of one core |",
            f"| Workflow object, largest version | {_num(scale.get('workflow_max_bytes'), 0)} bytes "
            f"({scale.get('workflow_versions_seen')} versions seen) |",
            f"| Redis used_memory before → after | {_num(redis_mem.get('used_memory_before', 0) / 2**20)} MB → "
            f"{_num(redis_mem.get('used_memory_after', 0) / 2**20)} MB |",
            f"| Redis peak (sampled each second; INFO used_memory_peak) | "
            f"{_num(redis_mem.get('used_memory_peak_sampled', 0) / 2**20)} MB; "
            f"{_num(redis_mem.get('used_memory_peak', 0) / 2**20)} MB |",
            f"| the workflow's Redis keys (MEMORY USAGE) | "
            f"{', '.join(f'{k} {_num(v / 2**20, 2)} MB' for k, v in (redis_mem.get('workflow_keys_bytes') or {}).items())} |",
            f"| status: Workflow {scale.get('phase')} | all Jobs created after {_num(scale.get('all_jobs_created_seconds'))} s |",
        ]

    lines += [
        "",
        "## CPU per task, by component (ms)",
        "",
        "Pods and shims are the whole node's (on a shared cluster, other users' pods too); a shim's CPU "
        "is sampled every 0.5 s, so a shim's last moments can be missed.",
        "",
    ]
    header = "| component | " + " | ".join(n for n in SCENARIO_NAMES if n in ours) + " |"
    lines += [header, "|" + " --- |" * (header.count("|") - 1)]
    for component in COMPONENTS:
        row = [component]
        for name in SCENARIO_NAMES:
            if name in ours:
                row.append(_num(_per_task(ours[name]).get(component)))
        lines.append("| " + " | ".join(row) + " |")
    busy_row = ["machine busy (all CPUs, % of wall)"]
    steal_row = ["machine steal, s"]
    for name in SCENARIO_NAMES:
        if name in ours:
            busy_row.append(_num(_busy_share(ours[name])))
            steal_row.append(_num(_get(ours[name], "cpu_seconds", "machine steal")))
    lines += ["| " + " | ".join(busy_row) + " |", "| " + " | ".join(steal_row) + " |"]
    others_row = ["other pods on the cluster, start → end"]
    for name in SCENARIO_NAMES:
        if name in ours:
            others = (ours[name].get("other_pods") or {}) if isinstance(ours[name], dict) else {}
            others_row.append(f"{_num(others.get('before'), 0)} → {_num(others.get('after'), 0)}")
    lines.append("| " + " | ".join(others_row) + " |")
    shims_row = ["shims seen"]
    for name in SCENARIO_NAMES:
        if name in ours:
            shims_row.append(_num(_get(ours[name], "cpu_seconds", "shims seen"), 0))
    lines.append("| " + " | ".join(shims_row) + " |")

    lines += api_requests(ours, header)

    if any((ours.get(name) or {}).get("peak_rss_mb") for name in SCENARIO_NAMES):
        lines += ["", "## Peak RSS during each scenario, by component (MB, sampled every 0.5 s)", ""]
        lines += [header, "|" + " --- |" * (header.count("|") - 1)]
        for component in COMPONENTS:
            row = [component]
            for name in SCENARIO_NAMES:
                if name in ours:
                    row.append(_num(_get(ours[name], "peak_rss_mb", component)))
            lines.append("| " + " | ".join(row) + " |")

    profiles: dict[str, dict[str, Any]] = {}
    for name in ours:
        found = (ours.get(name) or {}).get("operator_profile")
        if isinstance(found, dict) and found.get("samples"):
            profiles[name] = found
    if profiles:
        lines += ["", "## The operator's profile (py-spy, active samples only)", ""]
        for name, profile in profiles.items():
            frames = list((profile.get("inclusive_percent") or {}).items())[:10]
            own_frames = list((profile.get("self_percent") or {}).items())[:6]
            lines += [
                f"**{name}** ({profile['samples']} samples: "
                f"{', '.join(f'{t} {p}%' for t, p in (profile.get('roots_percent') or {}).items())}; "
                f"py-spy's own CPU {profile.get('py_spy_cpu_seconds')} s)",
                "",
                "- by kind (a sample can count in several): "
                + "; ".join(
                    f"{kind} {pct}%" for kind, pct in (profile.get("categories_percent") or {}).items()
                ),
                "- inclusive: " + "; ".join(f"`{frame}` {pct}%" for frame, pct in frames),
                "- self: " + "; ".join(f"`{frame}` {pct}%" for frame, pct in own_frames),
                "",
            ]

    findings = results.get("operator_log") or {}
    if findings.get("by_kind"):
        lines += [
            "",
            f"## The operator's warnings and errors during the run ({findings.get('warnings_and_errors')})",
            "",
            "| count | kind (numbers and quoted names blanked) |",
            "| --- | --- |",
            *[f"| {item['count']} | `{item['kind']}` |" for item in findings["by_kind"]],
        ]

    lines += ["", "## What limits each figure", "", *limits(results)]
    return "\n".join(lines) + "\n"


def _kubecanvas_hops(hop: dict[str, Any]) -> tuple[list[float], list[float]]:
    """From the hop's per-hop instants: (task i-1's result written → container i started, CRI) and
    (container i-1 started → container i started, CRI), in seconds: Argo's hop figures' counterparts."""
    written: list[float] = []
    periods: list[float] = []
    previous: float | None = None
    for row in hop.get("per_hop") or []:
        points = row.get("points") or {}
        started = points.get("started")
        if started is not None and points.get("written") is not None:
            written.append(started - points["written"])
        if started is not None and previous is not None:
            periods.append(started - previous)
        previous = started
    return written, periods


def _checked(ok: Any) -> str:
    return "not checked" if ok is None else "ok" if ok else "NOT ok"


def argo_table(results: dict[str, Any]) -> list[str]:
    """kubecanvas, Argo Workflows (upstream defaults, tuned) and Celery in one table, if Argo ran."""
    from kcbench.analysis import distribution

    variants = [name for name in ("argo", "argo_tuned") if results.get(name)]
    if not variants:
        return []
    ours: dict[str, Any] = results.get("kubecanvas") or {}
    celery: dict[str, Any] = results.get("celery") or {}
    argo = [results[name] for name in variants]
    hop = ours.get("hop") or {}
    written, periods = _kubecanvas_hops(hop)
    ours_hop, ours_period = distribution(written), distribution(periods)
    labels = {"argo": "Argo (defaults)", "argo_tuned": "Argo (tuned)"}
    w_hop = ours.get("warm-hop") or {}
    warm = bool(w_hop or ours.get("warm-fanout"))
    env = "; ".join(
        f"{labels[name]}: {', '.join(f'{k}={v}' for k, v in (results[name].get('controller_env') or {}).items()) or 'none changed'}"
        for name in variants
    )

    def row(  # noqa: PLR0917 - a table row: its cells in column order
        label: str,
        kc: Any,
        theirs: list[Any],
        cel: Any,
        text: Any = _num,
        per: str = "time",
        in_warm: Any = None,
    ) -> str:
        """Ratios are Argo's to kubecanvas's pod per task; warm runners' figure beside it, if run."""
        cells = [text(kc), *([text(in_warm)] if warm else []), *(text(value) for value in theirs), text(cel)]
        key: Any = (lambda v: v.get("p50") if isinstance(v, dict) else v) if text is _dist else (lambda v: v)
        ratios = [
            _ratio(key(value), key(kc)) if per == "time" else _ratio(key(kc), key(value)) for value in theirs
        ]
        return f"| {label} | {' | '.join(cells)} | {' | '.join(ratios)} |"

    def get(name: str, *path: str) -> list[Any]:
        return [_get(section, name, *path) for section in argo]

    def sizes(name: str, key: str) -> str:
        """The scenario's size as each engine ran it (one figure when they agree)."""
        return "/".join(str(n) for n in sorted({_get(ours, name, key), *get(name, key)} - {None})) or "?"

    def throughput(name: str, total: str) -> list[str]:
        """A scenario's wall time and its tasks/min, for every engine."""
        return [
            row(
                total,
                _get(ours, name, "total_seconds"),
                get(name, "total_seconds"),
                _get(celery, name, "total_seconds"),
                in_warm=_get(ours, f"warm-{name}", "total_seconds"),
            ),
            row(
                f"{name.replace('fanout', 'fan-out')}: tasks/min",
                _get(ours, name, "tasks_per_minute"),
                get(name, "tasks_per_minute"),
                _get(celery, name, "tasks_per_minute"),
                per="rate",
                in_warm=_get(ours, f"warm-{name}", "tasks_per_minute"),
            ),
        ]

    lines = [
        "",
        "## kubecanvas, Argo Workflows and Celery",
        "",
        f"Argo Workflows {results.get('argo_version', 'v4.0.5')} on the same cluster, one namespace-scoped "
        "controller per variant, run after kubecanvas (never at the same time), its steps in the same runtime "
        f"image with an explicit command. Controller environment changed: {env}. Latencies in ms as p50 / p95 "
        "/ max; ratios are Argo ÷ kubecanvas (times; for rates kubecanvas ÷ Argo, so above 1x means Argo "
        "is slower either way). Every instant below is containerd's (CRI, ns), except kubecanvas's "
        '"result written" (the runtime\'s own clock at the end of the task, ms before its process exits) '
        "and the totals (the harness's watch or 0.2 s poll)."
        + (
            " Warm runners have no container per task: their hop ends at the runtime's startedAt in the "
            "process a runner forked, and start to start is startedAt to startedAt."
            if warm
            else ""
        ),
        "",
        f"| figure | kubecanvas | {'kubecanvas, warm runners | ' if warm else ''}"
        f"{' | '.join(labels[name] for name in variants)} | Celery | "
        f"{' | '.join(labels[name] + ' ÷ kubecanvas' for name in variants)} |",
        "| --- | --- | "
        + ("--- | " if warm else "")
        + " | ".join("---" for _ in variants)
        + " | --- | "
        + " | ".join("---" for _ in variants)
        + " |",
        row(
            f"hop ({sizes('hop', 'tasks')}-step chain): previous step done → next "
            "step's container started (kubecanvas: result written; Argo: main container finished)",
            ours_hop,
            get("hop", "hop_ms"),
            _get(celery, "hop", "end_to_end_ms"),
            _dist,
            in_warm=w_hop.get("end_to_end_ms"),
        ),
        row(
            "hop: step container started → next step container started",
            ours_period,
            get("hop", "start_to_start_ms"),
            None,
            _dist,
            in_warm=w_hop.get("start_to_start_ms"),
        ),
        row(
            "hop: step container lifetime (Argo: emissary polls its child every 1 s)",
            _get(hop, "container_lifetime_ms"),
            get("hop", "main_container_lifetime_ms"),
            None,
            _dist,
        ),
        row(
            "hop: whole chain, s",
            hop.get("total_seconds"),
            get("hop", "total_seconds"),
            _get(celery, "hop", "total_seconds"),
            in_warm=w_hop.get("total_seconds"),
        ),
        *throughput("fanout", f"fan-out ({sizes('fanout', 'tasks')} no-ops): all done, s"),
        *throughput("chord", f"chord ({sizes('chord', 'header')} + sum): total, s"),
        "",
        "Argo results checked: "
        + (
            ", ".join(
                f"{labels[name]} {scenario} {_checked(_get(results[name], scenario, 'result_ok'))}"
                for name in variants
                for scenario in ("hop", "fanout", "chord")
                if scenario in results[name]
            )
            or "none ran"
        ),
        "",
        "The node while each Argo scenario ran (other pods: not finished, outside kube-system and the "
        "variant's namespace, at its start and end):",
        "",
    ]
    for name in variants:
        for scenario in ("hop", "fanout", "chord"):
            found = results[name].get(scenario)
            if isinstance(found, dict):
                lines.append(
                    f"- {labels[name]} {scenario}: {found.get('phase')}, {found.get('pods')} pods, CRI records "
                    f"{found.get('cri_records_found')}; other pods {found.get('other_pods_before')} → "
                    f"{found.get('other_pods_after')}; before: `{found.get('load_before')}`; after: "
                    f"`{found.get('load_after')}`"
                )
    return lines


def api_requests(ours: dict[str, Any], header: str, rows: int = 14) -> list[str]:
    """Kubernetes API requests per task: the operator's own (its counter), then every
    client's as the API server counted them, the busiest kinds first."""
    names = [name for name in SCENARIO_NAMES if isinstance(ours.get(name), dict)]
    if not any(
        ours[name].get("apiserver_requests") or ours[name].get("operator_api_calls") for name in names
    ):
        return []

    def per_task(name: str, section: str, key: str | None = None) -> float | None:
        found = ours[name].get(section)
        tasks = ours[name].get("tasks")
        if not isinstance(found, dict) or not tasks:
            return None
        return (found.get(key, 0.0) if key is not None else sum(found.values())) / float(tasks)

    def keys(section: str) -> list[str]:
        seen: dict[str, float] = {}
        for name in names:
            for key in ours[name].get(section) or {}:
                seen[key] = max(seen.get(key, 0.0), per_task(name, section, key) or 0.0)
        return sorted(seen, key=lambda key: -seen[key])

    lines = [
        "",
        "## Kubernetes API requests per task",
        "",
        "The operator's own calls are its `kubecanvas_kube_api_calls_total` (by client method; kopf's "
        "watches aside); every client's are the API server's `apiserver_request_total` over the "
        "scenario (the kubelet's status updates, the Job controller's, the scheduler's bindings, "
        "kopf's watches, this benchmark's watches, and other work on the cluster meanwhile), by verb "
        "and resource; a WATCH counts once when it starts.",
        "",
        header,
        "|" + " --- |" * (header.count("|") - 1),
    ]
    for label, section in (
        ("operator: all its calls", "operator_api_calls"),
        ("API server: all requests", "apiserver_requests"),
    ):
        lines.append(
            f"| **{label}** | " + " | ".join(_num(per_task(name, section), 2) for name in names) + " |"
        )
        prefix = "operator: " if section == "operator_api_calls" else ""
        for key in keys(section)[:rows]:
            lines.append(
                f"| {prefix}`{key}` | "
                + " | ".join(_num(per_task(name, section, key), 2) for name in names)
                + " |"
            )
    return lines


def limits(results: dict[str, Any]) -> list[str]:
    """Claims computed from the figures above, each with its numbers."""
    ours: dict[str, Any] = results.get("kubecanvas") or {}
    out: list[str] = []
    hop = ours.get("hop") or {}
    segments = hop.get("segments_ms") or {}
    if segments:
        p50 = {key: float(value.get("p50") or 0) for key, value in segments.items() if value.get("n")}
        total = sum(p50.values())
        ranked = sorted(p50.items(), key=lambda item: -item[1])
        startup = hop.get("runtime_startup") or {}
        out.append(
            f"- **Hop latency** (end to end p50 {_get(hop, 'end_to_end_ms', 'p50')} ms): the sum of the segment "
            f"p50s is {total:.0f} ms, of which "
            + ", ".join(f"{key} {value:.0f} ms ({100 * value / total:.0f} %)" for key, value in ranked[:4])
            + ". "
            + (
                f"Process start is the runtime's interpreter and imports ({startup.get('runtime_import_ms')} ms of "
                f"imports against {startup.get('bare_python_import_ms')} ms for a bare interpreter), then its "
                "ConfigMap read through the API and its Redis reads. "
                if startup
                else ""
            )
            + "Everything from `job_controller` to `container_start` is the Kubernetes machinery between "
            "our Job and our process (controller-manager, scheduler, kubelet, containerd, runc, CNI); the "
            f"operator's own part is `report` + `operator_step` ({p50.get('report', 0) + p50.get('operator_step', 0):.0f} ms p50)."
        )
    for name, label in (
        ("fanout", "Fan-out"),
        ("chord", "Chord"),
        ("chunks", "Chunks"),
        ("warm-fanout", "Warm fan-out"),
        ("scale", "Scale"),
    ):
        scenario = ours.get(name) or {}
        per_task = _per_task(scenario)
        if not per_task:
            continue
        busy = _busy_share(scenario)
        total = sum(per_task.values())
        ranked = sorted(per_task.items(), key=lambda item: -item[1])
        cpus = (results.get("machine") or {}).get("cpus") or 1
        ceiling = 60_000 * cpus / total if total else None
        out.append(
            f"- **{label} throughput** ({_num(scenario.get('tasks_per_minute'))} tasks/min): the machine was "
            f"{_num(busy)} % busy; the measured components spent {total:.0f} ms of CPU per task — "
            + ", ".join(f"{key} {value:.0f}" for key, value in ranked[:5])
            + f" — so {cpus} CPUs cannot do more than about {_num(ceiling, 0)} tasks/min at this cost "
            "(other load on the machine lowers it further)."
        )
    lagging = [
        (name, _get(ours.get(name), "operator_metrics", "report_delay"))
        for name in ("fanout", "chord", "chunks", "warm-fanout", "scale")
        if (_get(ours.get(name), "operator_metrics", "report_delay") or {}).get("n")
    ]
    quiet = _get(hop or ours.get("warm-hop"), "segments_ms", "report", "p50")
    if lagging:
        out.append(
            "- **How late the operator hears of results under load**: `kubecanvas_report_delay_seconds` "
            "(result written → the operator read it) was "
            + "; ".join(f"{name} p50 ≈ {d['p50']} ms, p95 ≈ {d['p95']} ms" for name, d in lagging)
            + f" (against {_num(quiet)} ms p50 in the quiet {'hop' if hop else 'warm-hop'} chain). The stream "
            "reader applies one batch at a time; Jobs are created in the background, off the workflow's lock"
            + (
                f" (the fan-out's {_num(_get(ours, 'fanout', 'jobs_created'), 0)} Jobs took "
                f"{_num(_get(ours, 'fanout', 'all_jobs_created_seconds'))} s)"
                if "fanout" in ours
                else ""
            )
            + ", so what remains is the machine's CPU, shared with the task pods and the API server."
        )
    shares = [
        (name, (_get(ours.get(name), "operator_profile", "categories_percent") or {}))
        for name in SCENARIO_NAMES
    ]
    shares = [(name, share) for name, share in shares if share]
    if shares:
        out.append(
            "- **The operator's CPU** goes mostly to kopf, not to kubecanvas: of its active samples, kopf's "
            "per-event processing of the watched Jobs, pods and Workflows took "
            + ", ".join(
                f"{share.get('kopf: per-event processing of watched objects', 0)}% ({name})"
                for name, share in shares
            )
            + " (its diff-base deep copies alone "
            + ", ".join(f"{share.get('kopf: diff-base and deep copies', 0)}%" for _, share in shares)
            + "), the Kubernetes client's thread pool "
            + ", ".join(f"{share.get('Kubernetes client calls (thread pool)', 0)}%" for _, share in shares)
            + ", and kubecanvas's own code (conductor, stream, engine, store) "
            + ", ".join(
                f"{round(share.get('kubecanvas operator code', 0) + share.get('kubecanvas engine and store', 0), 1)}%"
                for _, share in shares
            )
            + "."
        )
    rejected = [
        item
        for item in (results.get("operator_log") or {}).get("by_kind") or []
        if "annotations: Too long" in str(item.get("example"))
    ]
    if rejected:
        out.append(
            "- **A big Workflow breaks kopf's bookkeeping**: kopf keeps a copy of the spec in the "
            "`kubecanvas.io/last-handled-configuration` annotation; past the API server's 262,144-byte limit "
            f"for annotations its patch is refused (422), which the operator logged {rejected[0]['count']} "
            "times, retrying with back-off for the Workflow's whole life. The workflow still runs (the "
            "engine's state is in Redis), but every retry re-sends the whole spec."
        )
    py_spy = sum(
        float(_get(ours.get(name), "operator_profile", "py_spy_cpu_seconds") or 0) for name in SCENARIO_NAMES
    )
    operator_cpu = sum(float(_get(ours.get(name), "operator", "cpu_seconds") or 0) for name in SCENARIO_NAMES)
    if py_spy:
        out.append(
            f"- **The profiler's cost**: py-spy used {py_spy:.0f} s of CPU over the run against the operator's "
            f"{operator_cpu:.0f} s (rate {_get(results, 'options', 'profile_rate') or 50}/s); on a CPU-bound "
            "machine that is taken from the throughput figures (`--no-profile` for clean throughput)."
        )
    scale = ours.get("scale") or {}
    if scale:
        op = scale.get("operator") or {}
        tasks = scale.get("tasks") or 1
        out.append(
            f"- **Scale**: the operator peaked at {_num(op.get('peak_rss_mb'))} MB RSS and spent "
            f"{_num(1000 * float(op.get('cpu_seconds') or 0) / tasks)} ms CPU per task "
            f"(mean {_num(op.get('mean_cpu_percent'))} % of a core; RSS {_num(op.get('start_rss_mb'))} MB at the "
            "start of the scenario): it is not the bottleneck while that stays well under 100 %. The Workflow "
            f"object stayed at {_num(scale.get('workflow_max_bytes'), 0)} bytes at most: its spec (the canvas, "
            "about 27 bytes per no-op task) is most of it; the status is small and fixed. Redis held "
            f"{_num(sum((_get(scale, 'redis', 'workflow_keys_bytes') or {}).values()) / 2**20)} MB for the "
            "workflow's keys."
        )
    if not out:
        out.append("- (no kubecanvas figures in this run)")
    return out
