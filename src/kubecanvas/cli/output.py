"""How a finished workflow is printed: the document as JSON or YAML, or for a person."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubecanvas.engine.machine import Engine
    from kubecanvas.report.document import WorkflowDocument

__all__ = ["OutputFormat", "print_document", "print_summary"]


class OutputFormat(StrEnum):
    json = "json"
    yaml = "yaml"


def print_document(document: WorkflowDocument, output: OutputFormat) -> None:
    """Exactly the document on stdout, nothing else."""
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True))
    sys.stdout.flush()


def print_summary(document: WorkflowDocument, engine: Engine, elapsed: float) -> None:
    """For a person: how it ended on stderr, the result (as JSON) on stdout, so that
    `value=$(kubecanvas run f.yaml)` captures just the value."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, highlight=False)
    phase = document["phase"]
    counts = ", ".join(f"{count} {state}" for state, count in sorted(engine.counts().items()))
    style = {"Succeeded": "bold green", "Failed": "bold red"}.get(phase, "bold yellow")
    headline = Text(phase, style=style)
    tasks = f"{engine.total} task{'' if engine.total == 1 else 's'}"
    headline.append(f" {document['name']} in {elapsed:.1f}s ({tasks}: {counts or 'none'})")
    console.print(headline)
    error = document["error"]
    if error is not None:
        record = engine.records.get(str(error["taskId"]))
        trace = record.error.traceback if record is not None and record.error is not None else None
        if trace:
            console.print(trace.rstrip(), style="dim", markup=False, soft_wrap=True)
        line = Text("error: ", style="red")
        line.append(f"{error['task']}[{error['taskId']}] raised {error['type']}: {error['message']}")
        console.print(line)
    if phase == "Succeeded" or document["result"] is not None:
        sys.stdout.write(json.dumps(document["result"], ensure_ascii=False) + "\n")
        sys.stdout.flush()
