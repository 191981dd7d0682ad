// Package export writes a range of the event log as Parquet tables for data
// scientists (`halo export`): connections (conn.closed joined with its
// conn.opened), transactions (tx.observed), features (one row per device
// window, computed by the pipeline's own window and feature code, with the
// cohort's anomaly score and the window's label), alerts (folded from
// their events) and labels (label.recorded: imports and analysts'
// verdicts). Each table is a Hive-partitioned dataset,
// OUTDIR/<table>/tenant=…/date=…/part-N.parquet, zstd-compressed, its
// schema version in every file's metadata, written atomically: files under
// temporary names then renamed, tables moved into OUTDIR only once complete,
// the manifest export.json last. docs/export.md documents every column;
// the tests read every table back with pyarrow, pandas and DuckDB.
package export
