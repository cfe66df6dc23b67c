"""Celery's "First steps" project layout (proj/celery.py), ported by changing one import."""

from kubecanvas import Celery  # was: from celery import Celery

app = Celery(
    "proj", broker="redis://localhost:6379/0", backend="redis://localhost:6379/1", include=["proj.tasks"]
)
app.conf.update(result_expires=3600)

# Celery's periodic tasks guide, as it is written there.
from kubecanvas.schedules import crontab  # noqa: E402 - was: from celery.schedules import crontab

app.conf.beat_schedule = {
    "add-every-30-seconds": {"task": "proj.tasks.add", "schedule": 30.0, "args": (16, 16)},
    "add-every-monday-morning": {
        "task": "proj.tasks.add",
        "schedule": crontab(hour=7, minute=30, day_of_week=1),
        "args": (16, 16),
    },
}
app.conf.timezone = "Europe/London"
