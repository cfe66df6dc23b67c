"""The canvas guide's errback (Celery 5.6, "Canvas: Designing Work-flows", `link_error`), as
written there but for its directory (`ERRORS_DIR` rather than `/var/errors`), and a task
that tells its own id, through one retry."""

import os

from .celery import app


@app.task
def log_error(request, exc, traceback):
    with open(os.path.join(os.environ["ERRORS_DIR"], request.id), "a") as fh:
        print("--\n\n{0} {1} {2}".format(request.id, exc, traceback), file=fh)  # noqa: UP030, UP032 - as the guide has it


@app.task
def divide(x, y):
    return x / y


@app.task(bind=True, max_retries=1, default_retry_delay=0)
def own_id(self):
    with open(os.path.join(os.environ["ERRORS_DIR"], "seen"), "a") as fh:
        print(self.request.id, file=fh)
    if self.request.retries < 1:
        raise self.retry()
    return self.request.id


@app.task(bind=True)
def traced(self):
    """Celery 5's three ways to read a custom header."""
    return [self.request.headers, self.request.get("trace_id"), self.request.trace_id]
