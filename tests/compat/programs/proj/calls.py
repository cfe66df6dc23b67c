"""Calling code from Celery's guides (first steps, calling, canvas), with Celery's results."""

from kubecanvas import chain, chord, group  # was: from celery import chain, chord, group

from .celery import app
from .tasks import add, flaky, mul, xsum


def run():
    """What each call gave on Celery 5.6, in order."""
    return [
        add.delay(4, 4).get(timeout=60),
        add.apply_async((2, 2), countdown=1).get(timeout=60),
        (add.s(2, 2) | mul.s(8)).delay().get(timeout=60),
        chain(add.s(4, 4), mul.s(8), mul.s(10))().get(timeout=60),
        group(add.s(i, i) for i in range(10))().get(timeout=60),
        chord((add.s(i, i) for i in range(10)), xsum.s())().get(timeout=60),
        app.send_task("proj.tasks.add", args=[2, 3]).get(timeout=60),
        flaky.delay("k").get(timeout=60),
    ]


CELERY_GAVE = [8, 4, 32, 640, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18], 90, 5, "k after 1 retry"]
