"""`make bench`: kubecanvas on the local cluster, and Celery on this machine, side by side."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from kcbench import scenarios
from kcbench.analysis import folded_profile, log_findings
from kcbench.cluster import REPO, Cluster, operator_pods, other_operators, say
from kcbench.kube import KubeClient
from kcbench.procs import OperatorProcess, load_average, settle
from kcbench.report import write_markdown

SCENARIOS = ("hop", "fanout", "chord", "chunks", "warm-hop", "warm-fanout", "scale", "celery", "argo")
# Not kubecanvas scenarios: they need no kubecanvas operator.
OTHERS = {"celery", "argo"}
# Celery's counterpart of each kubecanvas scenario (the warm ones run the same canvases).
CELERY_SCENARIOS = {
    "hop": "hop",
    "fanout": "fanout",
    "chord": "chord",
    "chunks": "chunks",
    "warm-hop": "hop",
    "warm-fanout": "fanout",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmarks of kubecanvas on the local cluster, with Celery on this machine for "
        "comparison. Writes results.json and results.md.",
    )
    parser.add_argument(
        "--cluster-dir",
        type=Path,
        default=REPO / ".cluster",
        help="the .cluster directory of the cluster to use, started if it is not running "
        "(default: %(default)s)",
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated subset of %(default)s")
    parser.add_argument("--hop", type=int, default=30, help="tasks in the hop chain (default %(default)s)")
    parser.add_argument(
        "--fanout", type=int, default=500, help="tasks in the fan-out group (default %(default)s)"
    )
    parser.add_argument("--chord", type=int, default=1000, help="chord header tasks (default %(default)s)")
    parser.add_argument(
        "--chunk-items", type=int, default=10000, help="items for chunks (default %(default)s)"
    )
    parser.add_argument(
        "--chunks", type=int, default=100, help="chunks (tasks) for chunks (default %(default)s)"
    )
    parser.add_argument(
        "--parallelism",
        type=int,
        default=100,
        help="spec.parallelism of chord and chunks (default %(default)s)",
    )
    parser.add_argument(
        "--scale", type=int, default=10000, help="tasks in the scale group (default %(default)s)"
    )
    parser.add_argument(
        "--scale-parallelism", type=int, default=100, help="spec.parallelism of scale (default %(default)s)"
    )
    parser.add_argument(
        "--scale-runner",
        choices=("pod", "warm"),
        default="pod",
        help="where the scale group's tasks run: a pod each, or warm runners (default %(default)s)",
    )
    parser.add_argument(
        "--celery-db", type=int, default=15, help="Redis database for Celery (flushed!) (default %(default)s)"
    )
    parser.add_argument(
        "--celery-concurrency", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)"
    )
    parser.add_argument(
        "--argo-variants",
        default="argo,argo_tuned",
        help="Argo Workflows controllers to run, one after the other: argo (upstream defaults), argo_tuned "
        "(DEFAULT_REQUEUE_TIME=1s, INFORMER_WRITE_BACK=true) (default %(default)s)",
    )
    parser.add_argument(
        "--argo-scenarios",
        default="hop,fanout,chord",
        help="what `argo` runs on each variant, at the same sizes as kubecanvas's (default %(default)s)",
    )
    parser.add_argument("--no-profile", action="store_true", help="do not attach py-spy to the operator")
    parser.add_argument(
        "--profile-rate",
        type=int,
        default=10,
        help="py-spy samples per second (default %(default)s; at 50 py-spy used as much CPU as the operator)",
    )
    parser.add_argument("--output-dir", type=Path, default=REPO / "bench", help="where results.* go")
    parser.add_argument(
        "--report-only", action="store_true", help="only rewrite results.md from results.json, run nothing"
    )
    parser.add_argument("--keep-namespaces", action="store_true", help="leave the scenarios' namespaces")
    parser.add_argument(
        "--volume-less",
        action="store_true",
        help="task pods without volumes (tasks.readOnlyRootFilesystem=false: no emptyDir at /tmp; "
        "they never have an API token), so that the kubelet skips its volume wait",
    )
    parser.add_argument(
        "--allow-other-operators",
        action="store_true",
        help="run even if another kubecanvas operator watches the benchmark's namespaces (every namespace, "
        "or a pattern matching kcbench-*): it would run the benchmark's Workflows too, so the figures "
        "are then meaningless. Operators watching only other namespaces (the e2e suite's t-*) are fine",
    )
    options = parser.parse_args(argv)
    options.only = {name.strip() for name in options.only.split(",") if name.strip()}
    options.argo_variants = tuple(name.strip() for name in options.argo_variants.split(",") if name.strip())
    if set(options.argo_variants) - {"argo", "argo_tuned"}:
        parser.error(f"unknown --argo-variants {options.argo_variants}; choose from argo, argo_tuned")
    options.argo_scenarios = {name.strip() for name in options.argo_scenarios.split(",") if name.strip()}
    if options.argo_scenarios - {"hop", "fanout", "chord"}:
        parser.error(
            f"unknown --argo-scenarios {sorted(options.argo_scenarios)}; choose from hop, fanout, chord"
        )
    unknown = options.only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return options


def estimate_minutes(options: argparse.Namespace, rate: float = 240.0) -> float:
    """A rough figure from earlier runs on the 2-core machine: ~4 task pods a second."""
    minutes = 0.0
    only = options.only
    if "hop" in only:
        minutes += options.hop * 1.5 / 60 + 0.5
    if "fanout" in only:
        minutes += options.fanout / rate
    if "chord" in only:
        minutes += options.chord / rate
    if "chunks" in only:
        minutes += options.chunks / rate + 0.2
    if "warm-hop" in only:
        minutes += 0.5
    if "warm-fanout" in only:
        minutes += 0.5 + options.fanout / 6000
    if "scale" in only:
        minutes += options.scale / (3000 if options.scale_runner == "warm" else rate)
    if "celery" in only:
        minutes += 1.5
    if "argo" in only:
        # Per variant: Argo's default requeue (10 s) paces the chain; pods have 3 containers each.
        per_variant = 1.0
        per_variant += options.hop * 12 / 60 if "hop" in options.argo_scenarios else 0
        per_variant += options.fanout / 60 if "fanout" in options.argo_scenarios else 0
        per_variant += options.chord / 60 if "chord" in options.argo_scenarios else 0
        minutes += len(options.argo_variants) * per_variant
    return minutes + 1


def component_pids(cluster: Cluster) -> dict[str, int]:
    pids: dict[str, int] = {}
    for path in sorted((cluster.state / "pids").glob("*.pid")):
        try:
            pids[path.stem] = int(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            continue
    return pids


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("kopf", "kubernetes", "redis", "celery", "kombu"):
        try:
            from importlib.metadata import version

            found[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported as such
            found[package] = "not installed"
    kubectl = REPO / ".bin" / "kubectl"
    try:
        found["kubectl"] = subprocess.run(
            [str(kubectl), "version", "--client", "-o", "json"], capture_output=True, text=True, check=True
        ).stdout
        found["kubectl"] = json.loads(found["kubectl"])["clientVersion"]["gitVersion"]
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
        pass
    return found


def warm_runner_settings() -> dict[str, str]:
    """The operator's warm-runner settings as this run's operator has them: from the
    environment it inherits, else the operator's defaults."""
    import dataclasses

    from kubecanvas_operator.config import OperatorConfig

    defaults = {field.name: field.default for field in dataclasses.fields(OperatorConfig)}
    return {
        f"KUBECANVAS_{name.upper()}": os.environ.get(f"KUBECANVAS_{name.upper()}")
        or f"{defaults[name]} (default)"
        for name in ("runners_per_pool", "runner_idle_seconds")
    }


def _run_window(results: dict[str, Any]) -> tuple[float, float]:
    """When the run recorded in `results` started and finished (epoch seconds)."""
    from datetime import datetime

    try:
        return (
            datetime.strptime(results["started"], "%Y-%m-%dT%H:%M:%S%z").timestamp(),
            datetime.strptime(results["finished"], "%Y-%m-%dT%H:%M:%S%z").timestamp() + 60,
        )
    except (KeyError, ValueError):
        return (0.0, 0.0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: operator, worker, namespaces


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    if options.report_only:
        source = options.output_dir / "results.json"
        stored: dict[str, Any] = json.loads(source.read_text())
        window = _run_window(stored)
        for scenario in (stored.get("kubecanvas") or {}).values():
            profile = scenario.get("operator_profile") or {}
            folded = Path(profile["file"]) if profile.get("file") else None
            # Re-read with this version's analysis, unless a later run has overwritten the file.
            if folded is not None and folded.exists() and window[0] <= folded.stat().st_mtime <= window[1]:
                scenario["operator_profile"] = {**profile, **folded_profile(folded).top()}
        source.write_text(json.dumps(stored, indent=2) + "\n")
        (options.output_dir / "results.md").write_text(write_markdown(stored))
        say(f"wrote {options.output_dir / 'results.md'} from {source}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.time()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "load_before": load_average(),
            "kernel": platform.release(),
        },
        "options": {k: (sorted(v) if isinstance(v, set) else str(v)) for k, v in vars(options).items()},
        "versions": versions(),
        "kubecanvas": {},
        "celery": {},
        "errors": [],
    }
    say(f"load before: {results['machine']['load_before']}")
    say(
        f"scenarios {', '.join(s for s in SCENARIOS if s in options.only)}: about "
        f"{estimate_minutes(options):.0f} minutes on 2 cores (the scale scenario is most of it)"
    )
    output: Path = options.output_dir
    output.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        results["duration_seconds"] = round(time.time() - began, 1)
        (output / "results.json").write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
        (output / "results.md").write_text(write_markdown(results))

    cluster = Cluster(options.cluster_dir.resolve())
    operator: OperatorProcess | None = None
    api: KubeClient | None = None
    log_offset = 0
    try:
        cluster.ensure_up()
        cluster.install_prerequisites()
        api = KubeClient(cluster.kubeconfig)
        # This run's namespaces, operator stream and consumer group: none starts with `t-` or
        # `c-` (the e2e suite's and the chart tests' operators watch those), and no other
        # operator reads this run's task news.
        run = uuid.uuid4().hex[:4]
        prefix = f"kcbench-{run}-"
        samples = [f"{prefix}{name}-000000" for name in SCENARIOS]
        clashing, apart = other_operators(cluster.kubeconfig, {os.getpid()}, samples)
        pods_clashing, pods_apart = operator_pods(api, samples)
        clashing, apart = clashing + pods_clashing, apart + pods_apart
        if apart:
            say("sharing the cluster with operators that watch other namespaces:\n  " + "\n  ".join(apart))
            results["machine"]["other_operators"] = apart
        if clashing:
            message = "another kubecanvas operator watches the benchmark's namespaces:\n  " + "\n  ".join(
                clashing
            )
            if not options.allow_other_operators:
                raise SystemExit(
                    message + "\nIt would run the benchmark's Workflows too. Stop it (or make it watch only "
                    "its own namespaces, with --namespace), or pass --allow-other-operators."
                )
            say("WARNING: " + message)
            results["errors"].append(message)
        artifacts = cluster.state / "bench"
        artifacts.mkdir(exist_ok=True)
        store = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
        kubecanvas_only = options.only - OTHERS
        if kubecanvas_only:
            operator = OperatorProcess(
                cluster.kubeconfig,
                cluster.redis_url,
                artifacts / "operator.log",
                runtime_image=cluster.runtime_image,
                namespaces=(f"{prefix}*",),
                events_stream=f"kubecanvas:events:{prefix}bench",
                consumer_group=f"kubecanvas-operator-{prefix}bench",
                extra_env={"KUBECANVAS_TASK_READ_ONLY_ROOT": "false"} if options.volume_less else {},
            )
            results["machine"]["task_pods"] = (
                "no volume (read-write root filesystem)"
                if options.volume_less
                else "read-only root filesystem, an emptyDir at /tmp"
            )
            results["machine"]["runtime_image"] = operator.runtime_image
            results["machine"]["operator_namespaces"] = list(operator.namespaces)
            if kubecanvas_only & {"warm-hop", "warm-fanout"}:
                results["machine"]["warm_runners"] = warm_runner_settings()
            log_offset = operator.log_path.stat().st_size if operator.log_path.exists() else 0
            operator.start()
            say(f"operator started: pid {operator.pid}, log {operator.log_path}")
            results["machine"]["operator_serves_metrics"] = operator.metrics() is not None
        ctx = (
            scenarios.Context(
                cluster=cluster,
                api=api,
                store=store,
                operator=operator,
                artifacts=artifacts,
                profile=not options.no_profile,
                profile_rate=options.profile_rate,
                keep_namespaces=options.keep_namespaces,
                component_pids=component_pids(cluster),
                prefix=prefix,
                node=cluster.node,
            )
            if operator is not None
            else None
        )

        def attempt(section: str, name: str, run: Callable[[], dict[str, Any]]) -> None:
            quiet = settle()  # not in the wake of the scenario before
            if quiet["waited_seconds"] > 2 * 2.0:
                say(f"waited {quiet['waited_seconds']:.0f}s for the machine to settle")
            try:
                results[section][name] = run()
                if isinstance(results[section][name], dict):
                    results[section][name]["settle"] = quiet
                if ctx is not None and name in ctx.failures:
                    results[section][name]["failure"] = ctx.failures.pop(name)
            except Exception as error:  # noqa: BLE001 - one failed scenario must not lose the others
                say(f"{section} {name} failed: {error}")
                results["errors"].append(f"{section} {name}: {type(error).__name__}: {error}")
                traceback.print_exc()
            save()

        rate_hint: float | None = None
        if ctx is not None:
            if "hop" in options.only:
                say(f"hop: a chain of {options.hop} no-op tasks")
                attempt("kubecanvas", "hop", lambda: scenarios.hop(ctx, options.hop))
            if "fanout" in options.only:
                say(f"fan-out: a group of {options.fanout} no-op tasks, parallelism {options.fanout}")
                attempt("kubecanvas", "fanout", lambda: scenarios.fanout(ctx, options.fanout, options.fanout))
            if "chord" in options.only:
                say(f"chord: {options.chord} header tasks and a sum, parallelism {options.parallelism}")
                attempt(
                    "kubecanvas", "chord", lambda: scenarios.chord(ctx, options.chord, options.parallelism)
                )
            if "chunks" in options.only:
                say(
                    f"chunks: {options.chunk_items} items in {options.chunks} chunks, "
                    f"parallelism {options.parallelism}"
                )
                attempt(
                    "kubecanvas",
                    "chunks",
                    lambda: scenarios.chunks(ctx, options.chunk_items, options.chunks, options.parallelism),
                )
            if "warm-hop" in options.only:
                say(f"warm-hop: a chain of {options.hop} no-op tasks in warm runners")
                attempt("kubecanvas", "warm-hop", lambda: scenarios.hop(ctx, options.hop, warm=True))
            if "warm-fanout" in options.only:
                say(f"warm-fanout: a group of {options.fanout} no-op tasks in warm runners")
                attempt(
                    "kubecanvas",
                    "warm-fanout",
                    lambda: scenarios.fanout(ctx, options.fanout, options.fanout, warm=True),
                )
            rates = [
                float(results["kubecanvas"][name]["tasks_per_minute"])
                for name in ("chord", "fanout")
                if (results["kubecanvas"].get(name) or {}).get("tasks_per_minute")
            ]
            rate_hint = rates[0] if rates else None
        if "celery" in options.only:
            from kcbench.celerybench import run_all

            base = (
                cluster.redis_url.rsplit("/", 1)[0] if cluster.redis_url.count("/") > 2 else cluster.redis_url
            )
            url = f"{base}/{options.celery_db}"
            if url == cluster.redis_url:
                raise SystemExit(f"--celery-db {options.celery_db} is kubecanvas's own database")
            sizes = {
                "hop": options.hop,
                "fanout": options.fanout,
                "chord": options.chord,
                "chunk_items": options.chunk_items,
                "chunks": options.chunks,
            }
            only = {CELERY_SCENARIOS[name] for name in options.only if name in CELERY_SCENARIOS} or set(
                CELERY_SCENARIOS.values()
            )
            attempt(
                "celery",
                "all",
                lambda: run_all(
                    url,
                    options.celery_concurrency,
                    cluster.state / "bench" / "celery-worker.log",
                    sizes,
                    only,
                ),
            )
            results["celery"] = results["celery"].pop("all", {})
        if "argo" in options.only:
            from kcbench.argobench import run_all as run_argo

            argo_sizes = {
                "hop": options.hop,
                "fanout": options.fanout,
                "chord": options.chord,
                "parallelism": options.parallelism,
            }
            results["machine"]["argo_runtime_image"] = cluster.runtime_image
            pins = (REPO / "hack" / "versions.env").read_text().splitlines()
            results["argo_version"] = next(
                (v for k, _, v in (p.partition("=") for p in pins) if k == "ARGO_VERSION"), None
            )

            def argo_done(variant: str, found: dict[str, Any]) -> None:
                results[variant] = found
                save()

            try:
                run_argo(
                    cluster,
                    api,
                    cluster.runtime_image,
                    argo_sizes,
                    options.argo_scenarios,
                    artifacts,
                    argo_done,
                    keep=options.keep_namespaces,
                    variants=options.argo_variants,
                )
            except Exception as error:  # noqa: BLE001 - the other sections' results stay
                say(f"argo failed: {error}")
                results["errors"].append(f"argo: {type(error).__name__}: {error}")
                traceback.print_exc()
            finally:
                for variant in options.argo_variants:
                    results["errors"] += [
                        f"{variant} {e}" for e in (results.get(variant) or {}).get("errors", [])
                    ]
            save()
        if ctx is not None and "scale" in options.only:
            attempt(
                "kubecanvas",
                "scale",
                lambda: scenarios.scale(
                    ctx, options.scale, options.scale_parallelism, rate_hint, runner=options.scale_runner
                ),
            )
    except KeyboardInterrupt:
        results["errors"].append("interrupted")
        say("interrupted: cleaning up")
    finally:
        if operator is not None:
            operator.stop()
            results["operator_log"] = log_findings(operator.log_path, log_offset)
            with contextlib.suppress(redis.RedisError):
                # This run's own stream (and its consumer group with it): nobody else reads it.
                redis.Redis.from_url(cluster.redis_url).delete(operator.events_stream)
        if api is not None:
            api.close()
        cluster.down()
        results["machine"]["load_after"] = load_average()
        say(f"load after: {results['machine']['load_after']}")
        save()
    say(f"wrote {output / 'results.json'} and {output / 'results.md'} in {time.time() - began:.0f}s")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
