// Package replay will re-run the past: it feeds a time range of the event
// log (read in event time, ordered by event time and id) through the same
// pipeline handlers as the live path, into a sandbox instead of the real
// alert feed and edge. On it stand `halo replay` (backtest chosen detectors
// and, given label.recorded events, report precision, recall and time to
// detect), an analyst's incident timeline for one device (connections,
// transactions, features, scores, alerts), `halo export` (Parquet files of
// connections, transactions, features and alerts, partitioned by tenant and
// date, computed with the live feature code) and `halo import zeek` (Zeek
// conn.log files as conn.* events with derived ids, so importing a file
// twice stores it once).
//
// Nothing is implemented yet; this paragraph is the package's contract.
package replay
