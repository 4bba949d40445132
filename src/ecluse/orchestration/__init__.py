"""Run queue, the inline executor (worker processes), the cron scheduler, live events."""
