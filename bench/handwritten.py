"""The benchmark's work written by hand, once per tool. Each runs in its own process:

    python bench/handwritten.py duckdb  CSV OUT.parquet [--memory-limit 2GB]
    python bench/handwritten.py polars  CSV OUT.parquet
    python bench/handwritten.py pandas  CSV OUT.parquet
    python bench/handwritten.py pandas-object CSV OUT.parquet   (text as Python objects)
    python bench/handwritten.py dlt     CSV OUT.parquet   (run with the dlt venv's python)

The work is exactly the Ecluse pipeline's (bench/generate_orders.py ``pipeline``), in the same
order: trim every text column, lower-case the e-mail, upper-case the country, cast amount to
float64 and order_ts to timestamp, fill a missing country with UNKNOWN, drop rows without an
amount, remove duplicate rows (all columns), then per country and month: sum of amount,
row count, distinct customers; sorted by country and month; written as one Parquet file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TEXT = ["customer_email", "country", "product", "channel", "status", "currency"]
OTHER = ["order_id", "amount", "order_ts", "quantity"]


def _clean_select(source: str) -> str:
    return f"""
        SELECT DISTINCT order_id,
               lower(trim(customer_email)) AS customer_email,
               coalesce(upper(trim(country)), 'UNKNOWN') AS country,
               CAST(amount AS DOUBLE) AS amount,
               CAST(order_ts AS TIMESTAMP) AS order_ts,
               trim(product) AS product, trim(channel) AS channel, quantity,
               trim(status) AS status, trim(currency) AS currency
        FROM {source}
        WHERE amount IS NOT NULL"""


def duckdb_sql(source: str) -> str:
    """The whole job as one DuckDB query over ``source`` (a table or a read_csv call)."""
    return f"""
        SELECT country, date_trunc('month', order_ts) AS month, sum(amount) AS total,
               count(*) AS orders, count(DISTINCT customer_email) AS customers
        FROM ({_clean_select(source)})
        GROUP BY ALL
        ORDER BY country, month"""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_duckdb(csv: str, out: str, memory_limit: str | None, spill: str) -> None:
    import duckdb

    con = duckdb.connect(config={"temp_directory": spill})
    if memory_limit:
        con.execute(f"SET memory_limit = {_quote(memory_limit)}")
    query = duckdb_sql(f"read_csv({_quote(csv)})")
    con.execute(f"COPY ({query}) TO {_quote(out)} (FORMAT parquet)")


def run_polars(csv: str, out: str) -> None:
    import polars as pl

    lf = pl.scan_csv(csv, schema_overrides={"amount": pl.Float64, "order_ts": pl.Utf8,
                                            "country": pl.Utf8})
    lf = (lf.with_columns([pl.col(c).str.strip_chars(" ") for c in TEXT])
          .with_columns(pl.col("customer_email").str.to_lowercase(),
                        pl.col("country").str.to_uppercase().fill_null("UNKNOWN"),
                        pl.col("amount").cast(pl.Float64),
                        pl.col("order_ts").str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us"))
          .drop_nulls("amount")
          .unique()
          .group_by("country", pl.col("order_ts").dt.truncate("1mo").alias("month"))
          .agg(pl.col("amount").sum().alias("total"), pl.len().alias("orders"),
               pl.col("customer_email").n_unique().alias("customers"))
          .sort("country", "month"))
    lf.sink_parquet(out)


def run_pandas(csv: str, out: str, object_strings: bool = False) -> None:
    """``object_strings``: text as Python objects, the default before pandas 3 (pandas 3 keeps
    text in Arrow arrays), which is what most pandas code in use was written against."""
    import warnings

    import pandas as pd

    if object_strings:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the option is deprecated, and still works in 3.x
            pd.set_option("future.infer_string", False)
    df = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    for c in TEXT:
        df[c] = df[c].str.strip(" ")
    df["customer_email"] = df["customer_email"].str.lower()
    df["country"] = df["country"].str.upper().fillna("UNKNOWN")
    df["amount"] = df["amount"].astype("float64")
    df["order_ts"] = pd.to_datetime(df["order_ts"], format="%Y-%m-%dT%H:%M:%S")
    df = df.dropna(subset=["amount"]).drop_duplicates()
    df["month"] = df["order_ts"].dt.to_period("M").dt.start_time
    res = (df.groupby(["country", "month"])
           .agg(total=("amount", "sum"), orders=("amount", "size"),
                customers=("customer_email", "nunique"))
           .reset_index().sort_values(["country", "month"]))
    res.to_parquet(out, index=False)


def run_dlt(csv: str, out: str, work: str) -> None:
    """A peer tool: dlt loads the CSV as Arrow batches into DuckDB, then the same SQL runs there."""
    import dlt
    import duckdb
    import pyarrow.csv as pacsv

    @dlt.resource(name="orders", write_disposition="replace")
    def orders():  # type: ignore[no-untyped-def]
        reader = pacsv.open_csv(csv, read_options=pacsv.ReadOptions(block_size=64 << 20),
                                convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        yield from reader

    db = str(Path(work) / "dlt_bench.duckdb")
    Path(db).unlink(missing_ok=True)
    pipe = dlt.pipeline(pipeline_name="ecluse_bench", destination=dlt.destinations.duckdb(db),
                        dataset_name="bench", pipelines_dir=str(Path(work) / "dlt_pipelines"))
    pipe.run(orders())
    con = duckdb.connect(db)
    con.execute(f"COPY ({duckdb_sql('bench.orders')}) TO {_quote(out)} (FORMAT parquet)")
    con.close()
    Path(db).unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("tool", choices=["duckdb", "polars", "pandas", "pandas-object", "dlt"])
    ap.add_argument("csv")
    ap.add_argument("out")
    ap.add_argument("--memory-limit")
    ap.add_argument("--work", default=str(Path(__file__).resolve().parent / "data" / "work"))
    args = ap.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if args.tool == "duckdb":
        run_duckdb(args.csv, args.out, args.memory_limit, str(Path(args.work) / "spill"))
    elif args.tool == "polars":
        run_polars(args.csv, args.out)
    elif args.tool in ("pandas", "pandas-object"):
        run_pandas(args.csv, args.out, object_strings=args.tool == "pandas-object")
    else:
        run_dlt(args.csv, args.out, args.work)
    sys.exit(0)


if __name__ == "__main__":
    main()
