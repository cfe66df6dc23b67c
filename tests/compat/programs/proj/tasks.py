"""The tasks of Celery's user guide (proj/tasks.py), unchanged but for the app's import."""

from .celery import app


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y


@app.task
def xsum(numbers):
    return sum(numbers)


@app.task(bind=True, max_retries=2, default_retry_delay=0)
def flaky(self, key):
    if self.request.retries < 1:
        raise self.retry(exc=KeyError(key))
    return f"{key} after {self.request.retries} retry"
