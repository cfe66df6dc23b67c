"""Task pods see only their own workflow in Redis: one Redis user per workflow (ACL).

A task pod that authenticates as its workflow's user may

- read that workflow's keys (its node, the arguments, the results its call is built from,
  an errback's failed call) and nothing else — no other workflow, no SCAN or KEYS;
- write only what a task reports: its call, its outcome and its result (`calls`, `outcomes`,
  `results`) — never the nodes (which function runs, and how, is the operator's, written
  when the workflow is admitted), the records or the meta;
- append to the events stream (XADD), and not read it;
- as a warm runner (operator/runners.py), move work from its pool's queue to its own
  hands and drop it when done (BLMOVE, LINDEX, LREM on `run:q:*` and `run:held:*`) —
  never queue work: which attempts run is the operator's (`run:enqueued`, written by it).

So a task in one namespace cannot list, read or change another namespace's workflows, and
no task can choose another task's code. What remains within one workflow (a task may write
a sibling's not-yet-written result) stays within its author's own work.

The password is derived from a key only the operator holds (`task_password`), so that the
operator can grant the same user again after Redis lost its ACLs (a restart), without
storing passwords in Redis.
"""

from __future__ import annotations

import hashlib
import hmac

from kubecanvas.store.layout import WorkflowKeys

__all__ = ["TASK_COMMANDS", "task_password", "task_user", "task_user_rules"]

TASK_COMMANDS = (
    "ping",
    "select",
    "hget",
    "hmget",
    "hset",
    "hsetnx",
    "xadd",
    "multi",
    "exec",
    "discard",
    "blmove",
    "lindex",
    "lrem",
)
"""Every command the task runtime's client (`store/wire.py`, `store/taskside.py`,
`store/runnerside.py`) sends."""


def task_user(uid: str) -> str:
    """The Redis user of a workflow's task pods."""
    return f"kc-task-{uid}"


def task_password(key: bytes, uid: str) -> str:
    """The password of a workflow's task user: HMAC-SHA256 of its uid under the operator's key."""
    return hmac.new(key, uid.encode(), hashlib.sha256).hexdigest()


def task_user_rules(uid: str, password: str, events_stream: str) -> list[str]:
    """`ACL SETUSER <task_user(uid)> <rules...>`: the whole user, from nothing (idempotent)."""
    keys = WorkflowKeys(uid)
    return [
        "reset",  # no password, no key, no command, no channel: then exactly what follows
        "on",
        f">{password}",
        f"%R~{keys.prefix}*",
        *(f"%W~{key}" for key in (keys.calls, keys.outcomes, keys.results)),
        # BLMOVE reads and writes both its lists: one pattern must allow both (ACL checks
        # each key against one pattern at a time)
        f"~{keys.runner_writable}",
        f"%W~{events_stream}",
        *(f"+{command}" for command in TASK_COMMANDS),
    ]
