"""Deterministic generator of a messy orders CSV, and the Ecluse pipeline that cleans it.

    python bench/generate_orders.py --rows 5000000            # bench/data/orders_5000000.csv

Vectorised with numpy + Polars, written in chunks of 1,000,000 rows so 30M rows (about 3 GB)
stay within a few hundred MB of memory. The same ``--rows`` and ``--seed`` always give the same
bytes. Mess: e-mails in mixed case with stray spaces, country codes in mixed case, with stray
spaces, typos and blanks, blank amounts, ISO timestamps, ~3% duplicate rows (some of which only
become duplicates after trimming and lower-casing the e-mail).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
CHUNK = 1_000_000

COUNTRIES = ["FR", "DE", "US", "GB", "ES", "IT", "NL", "BE", "CH", "PL", "SE", "PT", "AT", "DK",
             "IE", "CA", "JP", "BR", "IN", "AU"]
TYPOS = ["FRA", "D E", "U.S", "GBR", "SP", "ITA", "N L", "BEL", "CHE", "POL"]
FIRST = ["anna", "bruno", "chloe", "david", "emma", "farid", "gina", "hugo", "ines", "jules",
         "karim", "lea", "marc", "nora", "oscar", "paula", "quentin", "rosa", "sam", "tina"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand",
        "leroy", "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david"]
DOMAINS = ["gmail.com", "yahoo.fr", "outlook.com", "orange.fr", "example.org", "proton.me"]
START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_S = int((np.datetime64("2026-01-01T00:00:00", "s") - START).astype(np.int64))

CHANNELS = ["web", "store", "mobile", "partner"]
STATUSES = ["delivered", "shipped", "cancelled", "returned", "pending_payment"]


def _pick(values: list[str], idx: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Utf8).gather(pl.Series(idx.astype(np.uint32)))


def make_chunk(rows: int, first_id: int, seed: int, customers: int) -> pl.DataFrame:
    """``rows`` orders; ids start at ``first_id``; fully determined by ``seed``."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, customers, rows)
    src = np.arange(rows)
    # ~3% duplicate rows: a row replaced by a copy of another row of the chunk.
    dup = rng.random(rows) < 0.03
    src[dup] = rng.integers(0, rows, int(dup.sum()))
    cust = cust[src]
    order_id = (first_id + np.arange(rows))[src]
    country_i = rng.integers(0, len(COUNTRIES), rows)[src]
    country_kind = rng.random(rows)[src]
    typo_i = rng.integers(0, len(TYPOS), rows)[src]
    amount = np.round(rng.gamma(2.0, 40.0, rows), 2)[src]
    amount_blank = (rng.random(rows) < 0.02)[src]
    ts = (START + rng.integers(0, SPAN_S, rows).astype("timedelta64[s]"))[src]
    product = rng.integers(1, 5000, rows)[src]
    channel = rng.integers(0, len(CHANNELS), rows)[src]
    quantity = rng.integers(1, 10, rows)[src]
    status = rng.integers(0, len(STATUSES), rows)[src]
    # The e-mail's look (case, spaces) is drawn per row, after duplication: some duplicates
    # differ only by the look, and become exact duplicates once cleaned.
    email_case = rng.integers(0, 10, rows)
    email_pad = rng.integers(0, 10, rows)

    df = pl.DataFrame({
        "order_id": order_id.astype(np.int64),
        "cust": cust.astype(np.int64),
        "first": _pick(FIRST, cust % len(FIRST)),
        "last": _pick(LAST, (cust // len(FIRST)) % len(LAST)),
        "domain": _pick(DOMAINS, cust % len(DOMAINS)),
        "email_case": email_case, "email_pad": email_pad,
        "country_code": _pick(COUNTRIES, country_i), "country_kind": country_kind,
        "typo": _pick(TYPOS, typo_i),
        "amount": np.where(amount_blank, np.nan, amount),
        "order_ts": ts.astype("datetime64[us]"),
        "product": product, "channel": _pick(CHANNELS, channel), "quantity": quantity,
        "status": _pick(STATUSES, status),
    })
    email = pl.concat_str([pl.col("first"), pl.lit("."), pl.col("last"),
                           pl.col("cust").cast(pl.Utf8), pl.lit("@"), pl.col("domain")])
    email = (pl.when(pl.col("email_case") < 6).then(email)
             .when(pl.col("email_case") < 8).then(email.str.to_uppercase())
             .otherwise(email.str.to_titlecase()))
    email = (pl.when(pl.col("email_pad") < 8).then(email)
             .when(pl.col("email_pad") == 8).then(pl.lit("  ") + email)
             .otherwise(email + pl.lit(" ")))
    k = pl.col("country_kind")
    code = pl.col("country_code")
    country = (pl.when(k < 0.80).then(code)
               .when(k < 0.88).then(code.str.to_lowercase())
               .when(k < 0.92).then(pl.lit(" ") + code)
               .when(k < 0.94).then(code + pl.lit("  "))
               .when(k < 0.97).then(pl.col("typo"))
               .otherwise(pl.lit(None, dtype=pl.Utf8)))
    return df.select(
        pl.col("order_id"),
        email.alias("customer_email"),
        country.alias("country"),
        pl.col("amount").fill_nan(None),
        pl.col("order_ts").dt.strftime("%Y-%m-%dT%H:%M:%S"),
        (pl.lit("SKU-") + pl.col("product").cast(pl.Utf8).str.zfill(5)).alias("product"),
        pl.col("channel"),
        pl.col("quantity"),
        pl.col("status"),
        pl.lit("EUR").alias("currency"),
    )


def generate(rows: int, path: Path, seed: int = 42) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    customers = max(1000, rows // 20)
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("wb") as fh:
        done, i = 0, 0
        while done < rows:
            n = min(CHUNK, rows - done)
            chunk = make_chunk(n, done + 1, seed * 1_000_003 + i, customers)
            chunk.write_csv(fh, include_header=(i == 0), float_precision=2)
            done, i = done + n, i + 1
    tmp.replace(path)
    return path


def pipeline(csv_path: Path, out_path: Path) -> dict[str, object]:
    """The Ecluse pipeline doing the benchmark's work: csv -> cleaner -> aggregate -> parquet."""
    return {
        "name": "Benchmark: monthly revenue per country",
        "version": "1.0.0",
        "nodes": [
            {"id": "orders", "type": "extractor", "module": "csv",
             "config": {"path": str(csv_path)}},
            {"id": "clean", "type": "transformer", "module": "cleaner",
             "config": {"trim": True, "case": {"customer_email": "lower", "country": "upper"},
                        "fill_nulls": {"country": "UNKNOWN"}, "drop_nulls": ["amount"],
                        "remove_duplicates": True,
                        "cast": {"amount": "float64", "order_ts": "timestamp"}}},
            {"id": "monthly", "type": "transformer", "module": "aggregate",
             "config": {"group_by": ["country"],
                        "time_bucket": {"column": "order_ts", "unit": "month", "name": "month"},
                        "aggregations": [
                            {"column": "amount", "function": "sum", "name": "total"},
                            {"function": "count", "name": "orders"},
                            {"column": "customer_email", "function": "count_distinct",
                             "name": "customers"}]}},
            {"id": "report", "type": "loader", "module": "parquet",
             "config": {"path": str(out_path), "mode": "overwrite"}},
        ],
        "edges": [{"source": "orders", "target": "clean"},
                  {"source": "clean", "target": "monthly"},
                  {"source": "monthly", "target": "report"}],
    }


def csv_path_for(rows: int) -> Path:
    return DATA_DIR / f"orders_{rows}.csv"


def pipeline_path_for(rows: int) -> Path:
    return DATA_DIR / f"orders_{rows}_pipeline.json"


def ensure(rows: int, seed: int = 42, out_path: Path | None = None) -> tuple[Path, Path]:
    """The CSV (generated once) and its pipeline document."""
    csv = csv_path_for(rows)
    if not csv.exists():
        t0 = time.perf_counter()
        generate(rows, csv, seed)
        print(f"generated {csv} ({csv.stat().st_size / 1e9:.2f} GB) in "
              f"{time.perf_counter() - t0:.1f} s")
    doc = pipeline_path_for(rows)
    out = out_path or DATA_DIR / "out" / f"ecluse_{rows}.parquet"
    doc.write_text(json.dumps(pipeline(csv, out), indent=2), encoding="utf-8")
    return csv, doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--force", action="store_true", help="Regenerate even if the file exists.")
    args = ap.parse_args()
    if args.force:
        csv_path_for(args.rows).unlink(missing_ok=True)
    csv, doc = ensure(args.rows, args.seed)
    print(f"{csv}\n{doc}")


if __name__ == "__main__":
    main()
