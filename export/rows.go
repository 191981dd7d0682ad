package export

// The row types of the fixed-schema tables. Each field's parquet tag gives
// the column name and encoding (dict: dictionary encoding, for columns whose
// values repeat; delta: DELTA_BINARY_PACKED, for the time columns of
// the big tables, in time order, and for their small integers — counts,
// sizes, ports, statuses —, which it bit-packs to a few bits each: zstd
// then has a quarter of the bytes to compress, for files of the same
// size; durations stay plain, which zstd compresses better); timestamps are int64 nanoseconds since the
// Unix epoch, UTC (Parquet TIMESTAMP(NANOS, isAdjustedToUTC)). The tenant
// and date of a row are not columns of the files: they are the partition
// directories (tenant=…/date=…), as Hive-partitioned datasets expect.
// docs/export.md documents every column; TestDocsListEveryColumn keeps it in
// step with these types.

// Connection is one row of the connections table: one connection, from its
// conn.closed event joined with its conn.opened.
type Connection struct {
	Device      string `parquet:"device,dict"`
	ConnID      string `parquet:"conn_id"`
	EventID     string `parquet:"event_id"`
	Start       int64  `parquet:"start,timestamp(nanosecond:utc),delta"`
	End         int64  `parquet:"end,timestamp(nanosecond:utc),delta"`
	DurationNs  int64  `parquet:"duration_ns"`
	Opened      bool   `parquet:"opened"`
	SrcAddr     string `parquet:"src_addr"`
	DstHost     string `parquet:"dst_host,dict"`
	DstIP       string `parquet:"dst_ip,dict"`
	DstPort     int32  `parquet:"dst_port,delta"`
	Transport   string `parquet:"transport,dict"`
	Service     string `parquet:"service,dict"`
	Mode        string `parquet:"mode,dict"`
	Inbound     bool   `parquet:"inbound"`
	SNI         string `parquet:"sni,dict"`
	TLSFp       string `parquet:"tls_fp,dict"`
	BytesUp     int64  `parquet:"bytes_up,delta"`
	BytesDown   int64  `parquet:"bytes_down,delta"`
	PacketsUp   int64  `parquet:"packets_up,delta"`
	PacketsDown int64  `parquet:"packets_down,delta"`
	CloseReason string `parquet:"close_reason,dict"`
	State       string `parquet:"state,dict"`
	Error       string `parquet:"error,dict"`
}

// Transaction is one row of the transactions table: one tx.observed event.
type Transaction struct {
	Device    string `parquet:"device,dict"`
	EventID   string `parquet:"event_id"`
	Time      int64  `parquet:"time,timestamp(nanosecond:utc),delta"`
	ConnID    string `parquet:"conn_id"`
	Method    string `parquet:"method,dict"`
	Host      string `parquet:"host,dict"`
	Path      string `parquet:"path,dict"`
	BodySize  int64  `parquet:"body_size,delta"`
	StrictFp  []byte `parquet:"strict_fp"`
	LooseFp   []byte `parquet:"loose_fp,dict"`
	Status    int32  `parquet:"status,delta"`
	LatencyNs int64  `parquet:"latency_ns"`
	Outcome   string `parquet:"outcome,dict"`
	Oversize  bool   `parquet:"oversize"`
}

// Alert is one row of the alerts table: one alert as the fold of its
// alert.raised, alert.updated, alert.acknowledged and alert.resolved events.
type Alert struct {
	Device         string         `parquet:"device,dict"`
	AlertID        string         `parquet:"alert_id"`
	Time           int64          `parquet:"time,timestamp(nanosecond:utc)"`
	LastSeen       int64          `parquet:"last_seen,timestamp(nanosecond:utc)"`
	Detector       string         `parquet:"detector,dict"`
	Severity       string         `parquet:"severity,dict"`
	Score          float64        `parquet:"score"`
	Count          int32          `parquet:"count"`
	Status         string         `parquet:"status,dict"`
	Verdict        string         `parquet:"verdict,dict"`
	WindowStart    int64          `parquet:"window_start,timestamp(nanosecond:utc)"`
	WindowEnd      int64          `parquet:"window_end,timestamp(nanosecond:utc)"`
	Key            string         `parquet:"key"`
	Summary        string         `parquet:"summary"`
	Explanation    string         `parquet:"explanation"`
	Features       []AlertFeature `parquet:"features,list"`
	Evidence       int32          `parquet:"evidence"`
	AcknowledgedBy string         `parquet:"acknowledged_by,dict"`
	AcknowledgedAt *int64         `parquet:"acknowledged_at,optional,timestamp(nanosecond:utc)"`
	ResolvedBy     string         `parquet:"resolved_by,dict"`
	ResolvedAt     *int64         `parquet:"resolved_at,optional,timestamp(nanosecond:utc)"`
	Note           string         `parquet:"note"`
}

// AlertFeature is one feature that explains an alert, with the baseline it
// was judged against.
type AlertFeature struct {
	Name     string  `parquet:"name"`
	Value    float64 `parquet:"value"`
	Baseline float64 `parquet:"baseline"`
}

// Label is one row of the labels table: one label.recorded event (an
// imported label, an analyst's verdict, a simulator's injected attack).
type Label struct {
	Device    string `parquet:"device,dict"`
	EventID   string `parquet:"event_id"`
	Time      int64  `parquet:"time,timestamp(nanosecond:utc)"`
	Label     string `parquet:"label,dict"`
	Detail    string `parquet:"detail,dict"`
	Malicious bool   `parquet:"malicious"`
	Start     int64  `parquet:"start,timestamp(nanosecond:utc),delta"`
	End       int64  `parquet:"end,timestamp(nanosecond:utc),delta"`
	Source    string `parquet:"source,dict"`
	AlertID   string `parquet:"alert_id"`
	Events    int32  `parquet:"events"`
}
