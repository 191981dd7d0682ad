package features

import "time"

// Feature documents one feature.
type Feature struct {
	// Name is the feature's column name (snake_case).
	Name string
	// Unit is what a value counts or measures.
	Unit string
	// Meaning says exactly what is computed, from which rows.
	Meaning string
}

// Feature indices in Vector.Values (and in Names and Doc).
const (
	Connections = iota
	DstHosts
	DstIPs
	DstPorts
	NewDstsDevice
	NewDstsCohort
	BytesUp
	BytesDown
	BytesUpShare
	DurationMean
	DurationMax
	FailedConns
	RefusedConns
	BlockedConns
	Transactions
	TxErrors
	TxReplaysRefused
	RepeatedStrict
	RepeatedLoose
	AuthFailures
	PlainHTTPShare
	NewTLSFpsCohort
	NumFeatures
)

// Doc documents every feature, in Values order. "The device's rows" are the
// rows of the window's batch with the device's tenant and device id: events
// whose event time falls in [Start, End). A destination is the pair (host,
// port) of a conn.opened or conn.blocked row, where host is dst_host, or
// dst_ip when the row names no host.
var Doc = [NumFeatures]Feature{
	Connections: {"connections", "count", "conn.opened rows: connections the device opened in the window."},
	DstHosts:    {"dst_hosts", "count", "Distinct non-empty dst_host values of the conn.opened and conn.blocked rows."},
	DstIPs:      {"dst_ips", "count", "Distinct non-empty dst_ip values of the conn.opened and conn.blocked rows."},
	DstPorts:    {"dst_ports", "count", "Distinct dst_port values of the conn.opened and conn.blocked rows."},
	NewDstsDevice: {"new_dsts_device", "count", "Distinct destinations of the window that the device did not contact in any earlier window " +
		"(within the State's Forget horizon; State documents its bounds)."},
	NewDstsCohort: {"new_dsts_cohort", "count", "Distinct destinations of the window that no device of the cohort (same tenant and cohort) " +
		"contacted in any earlier window (within the State's Forget horizon). Devices of the cohort in the same window do not count against each other."},
	BytesUp:      {"bytes_up", "bytes", "Sum of bytes_up of the conn.closed rows: bytes sent by the device on connections that ended in the window."},
	BytesDown:    {"bytes_down", "bytes", "Sum of bytes_down of the conn.closed rows."},
	BytesUpShare: {"bytes_up_share", "ratio 0-1", "bytes_up / (bytes_up + bytes_down): the up/down ratio as a share, defined when nothing came down; 0 when both are 0."},
	DurationMean: {"duration_mean", "seconds", "Mean duration_ns of the conn.closed rows, in seconds; 0 when there are none."},
	DurationMax:  {"duration_max", "seconds", "Largest duration_ns of the conn.closed rows, in seconds; 0 when there are none."},
	FailedConns: {"failed_conns", "count", "conn.closed rows of connections that failed: close reason error, timeout or refused, " +
		"or a source connection state (Zeek conn_state) of an attempt that was never established: S0, REJ, RSTOS0, SH. Includes refused_conns."},
	RefusedConns: {"refused_conns", "count", "conn.closed rows whose destination refused the connection: close reason refused, or Zeek conn_state REJ."},
	BlockedConns: {"blocked_conns", "count", "conn.blocked rows (the edge refused to open the connection: an intervention blocks the destination or quarantines the device) " +
		"plus conn.closed rows with close reason blocked or revoked (an open connection cut by an intervention, a quarantine or a revocation)."},
	Transactions:     {"transactions", "count", "tx.observed rows: plain-HTTP requests the edge parsed."},
	TxErrors:         {"tx_errors", "count", "tx.observed rows with status 500-599 or outcome error (the edge could not reach the destination)."},
	TxReplaysRefused: {"tx_replays_refused", "count", "tx.observed rows with outcome refused-replay: repeats the edge's replay shield refused in-line."},
	RepeatedStrict: {"repeated_strict", "count", "tx.observed rows whose non-empty strict_fp equals the strict_fp of an earlier tx.observed row of the device in the same window " +
		"(rows with a strict_fp minus distinct strict_fp values): exact repeats of a transaction, replays and retries alike."},
	RepeatedLoose: {"repeated_loose", "count", "The same count for loose_fp: likely duplicates (same host, path, amount, merchant/terminal)."},
	AuthFailures:  {"auth_failures", "count", "auth.failed rows. The vector of device \"\" (empty) counts the failures of clients that named no device: unknown certificates, no certificate."},
	PlainHTTPShare: {"plain_http_share", "ratio 0-1", "conn.opened rows with mode http divided by conn.opened rows: the share of the device's connections sent as plain HTTP " +
		"(the rest are CONNECT tunnels or imported); 0 when the device opened none."},
	NewTLSFpsCohort: {"new_tls_fps_cohort", "count", "Distinct non-empty tls_fp (ClientHello fingerprint) values of the conn.opened rows that no device of the cohort " +
		"presented in any earlier window (within the State's Forget horizon)."},
}

// Names lists the feature names: Names[i] is the name of Values[i].
var Names = func() []string {
	out := make([]string, NumFeatures)
	for i, f := range Doc {
		out[i] = f.Name
	}
	return out
}()

// Vector is the feature vector of one device in one window.
type Vector struct {
	// Tenant and Device identify the device; Device is "" for the rows that
	// name no device (auth.failed of unknown clients).
	Tenant, Device string
	// Cohort is what the cohort function said for the device (the tenant is
	// part of the cohort's identity in State whatever it says).
	Cohort string
	// Start and End bound the window.
	Start, End time.Time
	// Values holds the features in Names order.
	Values []float64
	// Rows is the device's row range in the window's batch (the evidence).
	Rows [2]int
}

// Value returns the feature called name, and false when there is none.
func (v *Vector) Value(name string) (float64, bool) {
	for i, n := range Names {
		if n == name && i < len(v.Values) {
			return v.Values[i], true
		}
	}
	return 0, false
}
