"""After the agent restarts: stop what the previous agent left running and settle the records.

A restarted agent cannot re-attach to a container (its output pipes died with the old agent),
so it kills any leftover process it can prove was its own and records each container that was
running as terminated with reason NodeAgentRestarted. The pod worker then applies the pod's
restartPolicy as it would to any exit: Never ends the pod Failed, Always and OnFailure restart.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from kubecanvas_nodeagent import processgroup, state
from kubecanvas_nodeagent.podstatus import Running, Terminated
from kubecanvas_nodeagent.state import PodRecord

log = logging.getLogger(__name__)

REASON = "NodeAgentRestarted"
KILLED_EXIT_CODE = 137  # 128 + SIGKILL: what the container's end looks like from outside


def load_records(pods_dir: Path) -> dict[str, PodRecord]:
    records = {}
    for directory in sorted(pods_dir.iterdir()) if pods_dir.is_dir() else []:
        if record := state.load(directory):
            records[record.uid] = record
    return records


async def reap_leftovers(record: PodRecord) -> set[str]:
    """Kill the record's container processes that are still alive; return those containers' names."""
    killed = set()
    for name, session in record.sessions.items():
        if processgroup.is_ours(session.pid, session.start_ticks):
            await processgroup.kill_session(session.pid)
            killed.add(name)
            log.info("pod %s/%s: killed leftover process %d of container %s",
                     record.namespace, record.name, session.pid, name)  # fmt: skip
    return killed


def settle(record: PodRecord, killed: set[str], now: datetime | None = None) -> None:
    """Record every container that was running as terminated by the agent's restart."""
    moment = now or datetime.now(UTC)
    for view in [*record.init_containers, *record.containers]:
        if not isinstance(view.state, Running):
            continue
        if view.name in killed:
            message = (
                "The node agent restarted while this container ran; it stopped the container's processes."
            )
        else:
            message = (
                "The node agent stopped while this container ran; the container's processes ended with it."
            )
        view.state = Terminated(
            exit_code=KILLED_EXIT_CODE,
            reason=REASON,
            finished_at=moment,
            started_at=view.state.started_at,
            message=message,
            container_id=view.container_id,
        )
        view.ready = False
        view.started = False
    record.sessions.clear()
