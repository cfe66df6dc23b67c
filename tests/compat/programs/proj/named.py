"""Celery's tasks guide, "Names": a task registered under a name that is not its import path."""

from .celery import app


@app.task(name="sum-of-two-numbers")
def add(x, y):
    return x + y


@app.task(name="proj.renamed.mul")
def mul(x, y):
    return x * y
