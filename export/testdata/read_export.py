"""Reads a `halo export` directory back with pyarrow, pandas and DuckDB.

Usage: python3 read_export.py OUTDIR

Prints one JSON object: for every table of OUTDIR/export.json, what each
reader sees (row counts, rows per tenant and date partition, column types),
the metadata and compression of every file, and, for the features table,
its rows (tenant, device, start in ns, feature values, score, label), and
for the alerts table each alert's id, status, verdict, whether it has
acknowledged_at and resolved_at, and its number of features, so
that the Go interop test can compare them with the log and the pipeline.
"""

import glob
import json
import os
import sys

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def read_table(out: str, table: str, features: list) -> dict:
    root = os.path.join(out, table)
    files = sorted(glob.glob(os.path.join(root, "tenant=*", "date=*", "*.parquet")))
    res = {"files": [os.path.relpath(f, root) for f in files]}

    # pyarrow: the directory as a Hive-partitioned dataset.
    d = ds.dataset(root, format="parquet", partitioning="hive")
    t = d.to_table()
    res["pyarrow"] = {
        "rows": t.num_rows,
        "schema": [[f.name, str(f.type)] for f in t.schema],
        "partitions": count_partitions(t.column("tenant").to_pylist(), t.column("date").to_pylist()) if t.num_rows else {},
    }
    meta = []
    for f in files:
        md = pq.read_metadata(f)
        kv = {k.decode(): v.decode() for k, v in (md.metadata or {}).items() if k.startswith(b"halo.")}
        codecs = sorted({md.row_group(i).column(j).compression for i in range(md.num_row_groups) for j in range(md.num_columns)})
        meta.append({"file": os.path.relpath(f, root), "rows": md.num_rows, "metadata": kv, "codecs": codecs})
    res["files_meta"] = meta

    # pandas.
    df = pd.read_parquet(root)
    res["pandas"] = {
        "rows": len(df),
        "dtypes": {c: str(df[c].dtype) for c in df.columns},
        "partitions": count_partitions(df["tenant"].astype(str), df["date"].astype(str)) if len(df) else {},
    }

    # DuckDB: a glob with Hive partitioning.
    if files:
        con = duckdb.connect()
        src = f"read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
        rows = con.execute(f"select count(*) from {src}").fetchone()[0]
        types = con.execute(f"describe select * from {src}").fetchall()
        parts = con.execute(f"select tenant, cast(date as varchar), count(*) from {src} group by all").fetchall()
        res["duckdb"] = {
            "rows": rows,
            "schema": [[r[0], r[1]] for r in types],
            "partitions": {f"tenant={a}/date={b}": n for a, b, n in parts},
        }
    else:
        res["duckdb"] = {"rows": 0, "schema": [], "partitions": {}}

    if table == "features" and t.num_rows:
        cols = ["tenant", "device", "start", *features, "anomaly_score", "malicious", "label"]
        sub = t.select(cols)
        res["rows"] = [
            [r["tenant"], r["device"], int(pd.Timestamp(r["start"]).value), [r[f] for f in features], r["anomaly_score"], r["malicious"], r["label"]]
            for r in sub.to_pylist()
        ]
    if table == "alerts" and t.num_rows:
        res["rows"] = [
            [r["alert_id"], r["status"], r["verdict"], r["acknowledged_at"] is not None, r["resolved_at"] is not None, len(r["features"])]
            for r in t.select(["alert_id", "status", "verdict", "acknowledged_at", "resolved_at", "features"]).to_pylist()
        ]
    return res


def count_partitions(tenants, dates) -> dict:
    out: dict = {}
    for a, b in zip(tenants, dates):
        k = f"tenant={a}/date={b}"
        out[k] = out.get(k, 0) + 1
    return out


def main() -> None:
    out = sys.argv[1]
    with open(os.path.join(out, "export.json")) as f:
        manifest = json.load(f)
    res = {t: read_table(out, t, manifest["features"]) for t in manifest["tables"]}
    json.dump(res, sys.stdout, default=str)


if __name__ == "__main__":
    main()
