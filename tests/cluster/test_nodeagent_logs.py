"""`kubectl logs` against the node agent's log server, with the options users rely on."""

from __future__ import annotations

import os
import re
import subprocess
import time

from support.cluster import KUBECTL, Cluster
from support.manifests import container, pod
from support.waiting import wait_until

PRINT_FIVE = """
import sys, time
for i in range(1, 6):
    print(f'line {i}', flush=True)
    time.sleep(0.3)
print('oops', file=sys.stderr)
"""


def _phase(cluster: Cluster, name: str, namespace: str) -> str:
    return str(cluster.get("pod", name, namespace)["status"].get("phase", ""))


def test_follow_streams_until_the_container_exits(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        pod("talker", container(["python", "-c", "import time; time.sleep(3)\n" + PRINT_FIVE])), namespace
    )
    wait_until(lambda: _phase(cluster, "talker", namespace) == "Running", 30, "Running")

    started = time.monotonic()
    follow = subprocess.run(
        [str(KUBECTL), "logs", "-f", "talker", "-n", namespace],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        check=True,
    )
    assert follow.stdout == "line 1\nline 2\nline 3\nline 4\nline 5\noops\n"
    assert time.monotonic() - started >= 1.0, "follow should have waited for the lines to be written"


def test_tail_timestamps_and_limit(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("talker", container(["python", "-c", PRINT_FIVE])), namespace)
    wait_until(lambda: _phase(cluster, "talker", namespace) == "Succeeded", 30, "Succeeded")

    assert cluster.kubectl("logs", "talker", "-n", namespace, "--tail=2") == "line 5\noops\n"
    stamped = cluster.kubectl("logs", "talker", "-n", namespace, "--timestamps", "--tail=1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z oops\n", stamped), stamped
    assert cluster.kubectl("logs", "talker", "-n", namespace, "--limit-bytes=9") == "line 1\nli"
    assert cluster.kubectl("logs", "talker", "-n", namespace, "--since=1h").count("line") == 5


def test_logs_of_a_container_that_has_not_started(cluster: Cluster, namespace: str) -> None:
    cluster.apply(pod("nostart", {"name": "main", "image": "nginx"}), namespace)
    wait_until(
        lambda: "CreateContainerError" in str(cluster.get("pod", "nostart", namespace)["status"]),
        30,
        "the error",
    )
    answer = cluster.kubectl("logs", "nostart", "-n", namespace, check=False)
    assert 'container "main" in pod "nostart" is waiting to start: CreateContainerError' in answer
