"""Every public case of the contract (shared/canvas-semantics.md, section 5), written
with the SDK, gives exactly the canvas YAML below, and a Workflow that validates and
compiles."""

from __future__ import annotations

from typing import Any

import pytest
from sdk_tasks import add, echo, fail, flaky, identity, log_error, mul, sleep, sub, tsum

from kubecanvas import Canvas, chain, chord, group
from kubecanvas.canvas.compiler import compile_spec
from kubecanvas.canvas.validation import parse_workflow


def t(name: str, *args: Any, immutable: bool = False, **kwargs: Any) -> dict[str, Any]:
    """The normal-form YAML of a signature of conftasks.<name>."""
    out: dict[str, Any] = {"task": f"conftasks.{name}"}
    if args:
        out["args"] = list(args)
    if kwargs:
        out["kwargs"] = kwargs
    if immutable:
        out["immutable"] = True
    return out


CASES: list[tuple[int, Canvas, dict[str, Any], dict[str, Any]]] = [
    (1, add.s(2, 2), t("add", 2, 2), {}),
    (2, sub.s(10), t("sub", 10), {"args": [30]}),
    (3, echo.s(1, a=1, b=2), t("echo", 1, a=1, b=2), {"args": [2], "kwargs": {"b": 3, "c": 4}}),
    (4, echo.si(1, a=1), t("echo", 1, a=1, immutable=True), {"args": [2], "kwargs": {"b": 3}}),
    (
        5,
        add.s(4, 4) | add.s(8) | add.s(16),
        {"chain": [t("add", 4, 4), t("add", 8), t("add", 16)]},
        {},
    ),
    (6, add.s(4) | mul.s(8), {"chain": [t("add", 4), t("mul", 8)]}, {"args": [16]}),
    (
        7,
        add.s(4, 16) | mul.s(2) | (add.s(4) | mul.s(8)),
        {"chain": [t("add", 4, 16), t("mul", 2), t("add", 4), t("mul", 8)]},
        {},
    ),
    (
        8,
        add.si(2, 2) | add.si(4, 4) | add.si(8, 8),
        {
            "chain": [
                t("add", 2, 2, immutable=True),
                t("add", 4, 4, immutable=True),
                t("add", 8, 8, immutable=True),
            ]
        },
        {},
    ),
    (9, group(add.s(i, i) for i in range(10)), {"group": [t("add", i, i) for i in range(10)]}, {}),
    (
        10,
        group(add.s(1), add.s(2), echo.s(9)),
        {"group": [t("add", 1), t("add", 2), t("echo", 9)]},
        {"args": [10]},
    ),
    (11, group([]), {"group": []}, {}),
    (
        12,
        group(add.si(1, 10), group(add.si(1, 100), group(add.si(1, 1000), add.si(1, 2000)))),
        {
            "group": [
                t("add", 1, 10, immutable=True),
                {
                    "group": [
                        t("add", 1, 100, immutable=True),
                        {"group": [t("add", 1, 1000, immutable=True), t("add", 1, 2000, immutable=True)]},
                    ]
                },
            ]
        },
        {},
    ),
    (
        13,
        group(add.s(i, i) for i in range(10)) | tsum.s(),
        {"chain": [{"group": [t("add", i, i) for i in range(10)]}, t("tsum")]},
        {},
    ),
    (
        14,
        add.s(5, 6) | group(add.s(1) | add.s(2), add.s(3)),
        {"chain": [t("add", 5, 6), {"group": [{"chain": [t("add", 1), t("add", 2)]}, t("add", 3)]}]},
        {},
    ),
    (
        15,
        chord((add.s(i, i) for i in range(100)), tsum.s()),
        {"chord": {"header": [t("add", i, i) for i in range(100)], "body": t("tsum")}},
        {},
    ),
    (
        16,
        chord([add.s(1, 1), add.s(2, 2)], echo.s("x", k=1)),
        {"chord": {"header": [t("add", 1, 1), t("add", 2, 2)], "body": t("echo", "x", k=1)}},
        {},
    ),
    (
        17,
        chord([add.s(1, 1)], echo.si("done")),
        {"chord": {"header": [t("add", 1, 1)], "body": t("echo", "done", immutable=True)}},
        {},
    ),
    (
        18,
        chord([add.s(1, 2) | mul.s(10), identity.s(7)], identity.s()),
        {
            "chord": {
                "header": [{"chain": [t("add", 1, 2), t("mul", 10)]}, t("identity", 7)],
                "body": t("identity"),
            }
        },
        {},
    ),
    (19, chord([], identity.s()), {"chord": {"header": [], "body": t("identity")}}, {}),
    (
        20,
        add.s(2, 2) | chord([add.s(1), add.s(2)], tsum.s()) | mul.s(10),
        {
            "chain": [
                t("add", 2, 2),
                {"chord": {"header": [t("add", 1), t("add", 2)], "body": t("tsum")}},
                t("mul", 10),
            ]
        },
        {},
    ),
    (
        21,
        tsum.map([[0, 1, 2], [3, 4]]),
        {"map": {"task": "conftasks.tsum", "items": [[0, 1, 2], [3, 4]]}},
        {},
    ),
    (
        22,
        add.starmap([[0, 0], [1, 1], [2, 2]]),
        {"starmap": {"task": "conftasks.add", "items": [[0, 0], [1, 1], [2, 2]]}},
        {},
    ),
    (
        23,
        add.chunks([[i, i] for i in range(10)], 3),
        {"chunks": {"task": "conftasks.add", "items": [[i, i] for i in range(10)], "size": 3}},
        {},
    ),
    (
        24,
        chain(add.s(1, 2), fail.s(), add.s(3, 4)),
        {"chain": [t("add", 1, 2), t("fail"), t("add", 3, 4)]},
        {},
    ),
    (
        25,
        chord([add.s(1, 2), fail.s(), add.s(3, 4), fail.s()], tsum.s()).on_error(log_error.s()),
        {
            "chord": {"header": [t("add", 1, 2), t("fail"), t("add", 3, 4), t("fail")], "body": t("tsum")},
            "linkError": [t("log_error")],
        },
        {},
    ),
    (
        26,
        group(fail.s(), identity.si(1), fail.s()).on_error(log_error.s()),
        {"group": [t("fail"), t("identity", 1, immutable=True), t("fail")], "linkError": [t("log_error")]},
        {},
    ),
    (
        27,
        flaky.s("k27", 2).set(retries={"max": 3, "delay": 1}),
        {**t("flaky", "k27", 2), "options": {"retries": {"max": 3, "delay": 1}}},
        {},
    ),
    (
        28,
        flaky.s("k28", 5).set(retries={"max": 2, "delay": 1}),
        {**t("flaky", "k28", 5), "options": {"retries": {"max": 2, "delay": 1}}},
        {},
    ),
    (29, add.s(1, 1).set(countdown=3), {**t("add", 1, 1), "options": {"countdown": 3}}, {}),
    (30, sleep.s(30), t("sleep", 30), {}),
    (
        31,
        group(add.s(1, 2), fail.s(), fail.s()) | tsum.s().on_error(log_error.s()),  # Celery's canvas guide
        {  # `group | task` is a chain that joins, i.e. a chord (contract 3.7)
            "chain": [
                {"group": [t("add", 1, 2), t("fail"), t("fail")]},
                {**t("tsum"), "linkError": [t("log_error")]},
            ]
        },
        {},
    ),
]


@pytest.mark.parametrize(("number", "canvas", "expected", "spec"), CASES, ids=[f"case{c[0]}" for c in CASES])
def test_public_case_gives_the_contract_canvas(
    number: int, canvas: Canvas, expected: dict[str, Any], spec: dict[str, Any]
) -> None:
    assert canvas.to_canvas() == expected

    manifest = canvas.to_workflow(f"case-{number}", **spec)
    assert manifest["spec"] == {"canvas": expected, **spec}
    compile_spec(parse_workflow(manifest).spec)  # the compiler accepts it too


def test_the_cases_cover_the_contract() -> None:
    assert [case[0] for case in CASES] == list(range(1, 32))


def test_case_30_revoke_is_a_spec_field_the_sdk_reads_back() -> None:
    from kubecanvas import from_workflow

    manifest = sleep.s(30).to_workflow("case-30")
    manifest["spec"]["revoke"] = True  # what `kubecanvas revoke` patches in
    document = from_workflow(manifest)
    assert document.revoke is True
    assert document.to_workflow() == manifest
