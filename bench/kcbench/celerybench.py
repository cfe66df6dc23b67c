"""The same canvases run by Celery on this machine: a prefork worker, Redis broker and backend."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from kcbench.analysis import distribution
from kcbench.cluster import REPO, say
from kcbench.procs import VENV_BIN, ProcessSampler

__all__ = ["CeleryBench"]


class CeleryBench:
    def __init__(self, url: str, concurrency: int, log_path: Path) -> None:
        self.url = url
        self.concurrency = concurrency
        self.log_path = log_path
        self.worker: subprocess.Popen[bytes] | None = None
        self.sampler: ProcessSampler | None = None
        os.environ["KCBENCH_CELERY_URL"] = url
        from kcbench import celeryapp

        celeryapp.configure(url)
        self.tasks = celeryapp

    def _flush(self) -> None:
        client = redis.Redis.from_url(self.url)
        try:
            client.flushdb()
        finally:
            client.close()

    def start(self) -> None:
        self._flush()
        env = {
            **os.environ,
            "KCBENCH_CELERY_URL": self.url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "bench"), os.environ.get("PYTHONPATH")])),
        }
        command = [
            str(VENV_BIN / "celery"),
            "-A",
            "kcbench.celeryapp",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "WARNING",
            "--queues",
            self.tasks.QUEUE,
            "--hostname",
            f"kcbench-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with self.log_path.open("ab") as log:
            self.worker = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.tasks.app.control.ping(timeout=0.5):
            if self.worker.poll() is not None:
                raise RuntimeError(
                    f"the Celery worker exited with {self.worker.returncode}; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not answer a ping; see {self.log_path}")
        # Warm the pool's children, as a long-running worker is.
        from celery import group  # type: ignore[import-untyped]

        group(self.tasks.noop.s() for _ in range(4 * self.concurrency)).apply_async().get(timeout=60)
        self.sampler = ProcessSampler(self.worker.pid)
        self.sampler.start()

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        self.worker = None
        with contextlib.suppress(redis.RedisError):
            self._flush()

    # ---------------------------------------------------------------- scenarios

    def hop(self, length: int) -> dict[str, Any]:
        from celery import chain

        began = time.time()
        times = chain(*(self.tasks.hop.s() for _ in range(length))).apply_async().get(timeout=600)
        total = time.time() - began
        hops = [times[i][0] - times[i - 1][1] for i in range(1, len(times))]
        return {
            "tasks": length,
            "total_seconds": round(total, 3),
            "end_to_end_ms": distribution(hops),
        }

    def fanout(self, tasks: int) -> dict[str, Any]:
        from celery import group

        began = time.time()
        group(self.tasks.noop.s() for _ in range(tasks)).apply_async().get(timeout=1800)
        return self._throughput(tasks, time.time() - began)

    def chord(self, tasks: int) -> dict[str, Any]:
        from celery import chord

        began = time.time()
        value = chord(self.tasks.add.s(i, i) for i in range(tasks))(self.tasks.tsum.s()).get(timeout=1800)
        result = self._throughput(tasks + 1, time.time() - began)
        result["result_ok"] = value == tasks * (tasks - 1)
        return result

    def chunks(self, items: int, count: int) -> dict[str, Any]:
        size = max(1, items // count)
        began = time.time()
        value = (
            self.tasks.add.chunks([(i, i) for i in range(items)], size)
            .group()
            .apply_async()
            .get(timeout=1800)
        )
        result = self._throughput(count, time.time() - began)
        result["items_per_minute"] = round(60 * items / result["total_seconds"], 1)
        result["result_ok"] = [x for chunk in value for x in chunk] == [2 * i for i in range(items)]
        return result

    @staticmethod
    def _throughput(tasks: int, seconds: float) -> dict[str, Any]:
        return {
            "tasks": tasks,
            "total_seconds": round(seconds, 3),
            "tasks_per_minute": round(60 * tasks / seconds, 1) if seconds > 0 else None,
        }


def describe(url: str, concurrency: int) -> str:
    return f"Celery prefork worker, --concurrency {concurrency}, Redis broker+backend {url}"


def run_all(
    url: str, concurrency: int, log_path: Path, sizes: dict[str, int], only: set[str]
) -> dict[str, Any]:
    """Every comparable scenario, one worker for all."""
    bench = CeleryBench(url, concurrency, log_path)
    results: dict[str, Any] = {"setup": describe(url, concurrency)}
    say(f"celery: starting a worker ({describe(url, concurrency)})")
    bench.start()
    try:
        if "hop" in only:
            say(f"celery: hop (a chain of {sizes['hop']})")
            results["hop"] = bench.hop(sizes["hop"])
        if "fanout" in only:
            say(f"celery: fan-out (a group of {sizes['fanout']})")
            results["fanout"] = bench.fanout(sizes["fanout"])
        if "chord" in only:
            say(f"celery: chord ({sizes['chord']} header tasks)")
            results["chord"] = bench.chord(sizes["chord"])
        if "chunks" in only:
            say(f"celery: chunks ({sizes['chunk_items']} items in {sizes['chunks']} chunks)")
            results["chunks"] = bench.chunks(sizes["chunk_items"], sizes["chunks"])
        if bench.sampler is not None:
            results["worker_main_process"] = bench.sampler.summary()
    finally:
        bench.stop()
    return results
