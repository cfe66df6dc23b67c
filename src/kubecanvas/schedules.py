"""Celery's `celery.schedules` names (`crontab`, `schedule`, `solar`) for ported programs;
they live in `kubecanvas.sdk.schedules`."""

from __future__ import annotations

from kubecanvas.sdk.schedules import crontab, schedule, solar

__all__ = ["crontab", "schedule", "solar"]
