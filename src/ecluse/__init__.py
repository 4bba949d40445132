"""Ecluse: a low-code ETL/ELT platform. Pipelines are documents; the engine runs them."""

__version__ = "0.1.0"
