"""Every setting, from ``ECLUSE_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECLUSE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".ecluse"), description="Where Ecluse keeps its data.")
    engine: Literal["duckdb", "polars", "pyspark"] = "duckdb"
    memory_limit: str | None = Field(
        None, description="Engine memory budget, e.g. '2GB'; past it DuckDB spills to disk.")
    threads: int | None = Field(None, ge=1)
    # The platform server
    database_url: str | None = Field(None, description="Metadata database; SQLite in data_dir "
                                     "when empty.")
    secret_key: str | None = Field(None, description="Key encrypting stored secrets; a key file "
                                   "in data_dir is generated when empty.")
    redis_url: str | None = None
    executor: Literal["inline", "celery"] = "inline"
    scheduler: Literal["embedded", "airflow", "off"] = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    max_concurrent_runs: int = Field(2, ge=1)
    admin_username: str | None = None
    admin_password: str | None = None
    spark_master: str = "local[*]"


@cache
def get_settings() -> Settings:
    return Settings()
