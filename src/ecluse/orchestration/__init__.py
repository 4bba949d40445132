"""Run queue, executors (inline worker processes; Celery workers), the cron scheduler, live events."""
