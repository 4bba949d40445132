"""Every setting, from ``ECLUSE_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # an empty variable (`ECLUSE_THREADS=`) means "not set", as the docs say of each setting
    model_config = SettingsConfigDict(env_prefix="ECLUSE_", env_file=".env", extra="ignore",
                                      env_ignore_empty=True)

    data_dir: Path = Field(Path(".ecluse"), description="Where Ecluse keeps its data.")
    engine: Literal["duckdb", "polars", "pyspark"] = Field(
        "duckdb", description="Engine of pipelines that do not choose one.")
    memory_limit: str | None = Field(
        None, description="Engine memory budget, e.g. '2GB'; past it DuckDB spills to disk.")
    threads: int | None = Field(None, ge=1, description="Engine threads; all cores when empty.")
    # The platform server
    database_url: str | None = Field(None, description="Metadata database; SQLite in data_dir "
                                     "when empty.")
    secret_key: str | None = Field(None, description="Key encrypting stored secrets; a key file "
                                   "in data_dir is generated when empty.")
    redis_url: str | None = Field(None, description="Redis shared by several instances: live run "
                                  "events and the failed-login count.")
    executor: Literal["inline", "celery"] = Field(
        "inline", description="Who executes runs: worker processes of each server (inline) or "
        "Celery workers.")
    scheduler: Literal["embedded", "airflow", "off"] = Field(
        "embedded", description="Who starts scheduled runs: the server itself, Airflow (the "
        "server's scheduler stays idle), or nobody.")
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, description="Port the server listens on.")
    max_concurrent_runs: int = Field(2, ge=1, description="Runs executed at once per instance.")
    admin_username: str | None = Field(None, description="First admin, created on first start "
                                       "when no admin exists.")
    admin_password: str | None = Field(None, description="Password of that first admin.")
    spark_master: str = Field("local[*]", description="Spark master of the pyspark engine "
                              "(spark://host:7077, yarn, k8s://...).")


@cache
def get_settings() -> Settings:
    return Settings()
