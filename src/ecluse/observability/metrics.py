"""Prometheus metrics for requests and runs."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("ecluse_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("ecluse_http_request_duration_seconds", "HTTP request latency",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RUNS = Counter("ecluse_runs_total", "Finished runs", ["pipeline_id", "status"])
RUN_FAILURES = Counter("ecluse_run_failures_total", "Failed runs", ["pipeline_id"])
RUN_DURATION = Histogram("ecluse_run_duration_seconds", "Run duration", ["pipeline_id"],
                         buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600))
RUN_ROWS = Counter("ecluse_run_rows_total", "Rows written by loaders", ["pipeline_id"])


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
