"""The fault suite's report: one row per scenario (tests/e2e/test_chaos.py, and the chart's
webhook scenario in tests/chart), written once for the whole run by the session fixture
`chaos_report` (tests/conftest.py) to `.cluster/chaos/report.md` and `report.json`.

`KUBECANVAS_CHAOS=full` (`make chaos`) sizes every scenario up; `make test` runs them small.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from support.cluster import STATE

__all__ = ["FINISH_TIMEOUT", "FULL", "PARALLELISM", "SIZE", "Report", "Row", "report_directory"]

FULL = os.environ.get("KUBECANVAS_CHAOS") == "full"
SIZE = 500 if FULL else 40
PARALLELISM = 50 if FULL else 10
FINISH_TIMEOUT = 1800 if FULL else 420


@dataclass
class Row:
    """One scenario's line in the report."""

    scenario: str
    expected: str
    phase: str = ""
    result_exact: bool | None = None
    tasks: int = 0
    max_runs: int = 0
    runs_over_one: int = 0
    unfinished: int = 0
    faults: int = 0
    recovered_s: float | None = None
    total_s: float = 0.0
    message: str = ""
    ok: bool = False
    notes: list[str] = field(default_factory=list)


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "report.json").write_text(
            json.dumps({"full": FULL, "size": SIZE, "rows": [asdict(row) for row in self.rows]}, indent=2)
            + "\n"
        )
        lines = [
            f"# Chaos report ({'full' if FULL else 'fast'}: {SIZE}-task chords, parallelism {PARALLELISM})",
            "",
            "| scenario | faults | expected | phase | result exact | max runs per task | tasks run twice "
            "| unfinished | recovered in | total | ok |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            recovered = f"{row.recovered_s:.1f} s" if row.recovered_s is not None else "-"
            exact = {True: "yes", False: "NO", None: "-"}[row.result_exact]
            lines.append(
                f"| {row.scenario} | {row.faults} | {row.expected} | {row.phase} | {exact} | {row.max_runs} "
                f"| {row.runs_over_one} | {row.unfinished} | {recovered} | {row.total_s:.1f} s "
                f"| {'green' if row.ok else 'RED'} |"
            )
        notes = [f"- {row.scenario}: {note}" for row in self.rows for note in row.notes]
        (directory / "report.md").write_text("\n".join([*lines, "", *notes, ""]))


def report_directory() -> Path:
    return Path(os.environ.get("KUBECANVAS_CHAOS_REPORT") or STATE / "chaos")
