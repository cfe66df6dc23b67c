"""Celery's "First steps" project layout (proj/celery.py), ported by changing one import."""

from kubecanvas import Celery  # was: from celery import Celery

app = Celery(
    "proj", broker="redis://localhost:6379/0", backend="redis://localhost:6379/1", include=["proj.tasks"]
)
app.conf.update(result_expires=3600)
