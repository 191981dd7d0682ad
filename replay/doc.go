// Package replay re-runs the past: it feeds a range of the event log, in
// log order (the order the live pipeline consumed it), through the same
// pipeline processor as the live path, into a sandbox instead of the real
// alert feed and edge.
//
// Run is the backtest halo replay stands on; Evaluate scores its alerts
// against labels (label.recorded events, the simulator's labels file) over
// (device, window) pairs — precision, recall, F1 per detector and per
// label, time to detect, false alerts per device-day — and WriteHTML draws
// the offline report. BaselineDiff compares a candidate run with the
// alerts the live pipeline raised. WriteTimelineHTML draws an incident
// timeline (halo incident; the timeline itself is api.BuildTimeline, the
// same as GET /v1/devices/{id}/timeline). Package replay/zeek imports Zeek
// conn.log files as events with derived ids.
//
// docs/zeek-figures.md holds what a replay gives on each labeled Zeek log;
// TestZeekFiguresDocument keeps it current.
package replay
