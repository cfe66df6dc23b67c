"""`make bench`: benchmarks of kubecanvas on the local cluster, with Celery alongside.

    .venv/bin/python bench/run.py [--cluster-dir .cluster] [--scale 10000] [--only hop,fanout,...]

See docs/benchmarks.md. Writes bench/results.json and bench/results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the kcbench package beside this file

from kcbench.main import main

if __name__ == "__main__":
    sys.exit(main())
