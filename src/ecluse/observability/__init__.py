"""Structured JSON logs (structlog) and Prometheus metrics."""
