package features

import (
	"bytes"
	"fmt"
	"strings"
)

// Markdown renders Doc as docs/features.md (a test keeps the file in step).
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString(`# Features

<!-- Generated from pipeline/features.Doc by features.Markdown; do not edit.
     Rewrite with: go test ./pipeline/features -run TestDocs -update -->

One vector per device and window, computed by ` + "`features.Compute`" + ` column-wise
from the window's Arrow record batch (package ` + "`pipeline/window`" + `: one row per
traffic event, event time in the window, rows sorted by tenant, device, time,
id). The same code serves the live pipeline, replays and Parquet export.

- **The device's rows** are the window's rows with the device's tenant and
  device id. Device "" collects the auth.failed events that name no device.
- **A destination** is the pair (host, port) of a conn.opened or
  conn.blocked row, where host is dst_host, or dst_ip when the row names no
  host. conn.closed rows carry the destination of their conn.opened (joined
  by connection id), but destinations are counted from the attempts.
- **Novelty** ("new_…") is judged against the windows that start before this
  one, within the State's Forget horizon (default 30 days), for the device or
  for its cohort (tenant + cohort name, e.g. model and firmware). A value
  first seen in another window of the same start (another partition) is still
  new, so vectors do not depend on the order of windows of one start.
- Counts are float64 like every value; a ratio or mean with nothing to divide
  is 0.

| # | name | unit | meaning |
|---|---|---|---|
`)
	for i, f := range Doc {
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", i, f.Name, f.Unit, strings.ReplaceAll(f.Meaning, "|", `\|`))
	}
	b.WriteString(`
## Bounds of the novelty memory (features.State)

- a value not seen for ` + "`Forget`" + ` (default 30 days of event time) is new
  again, and is dropped by a sweep every Forget/8;
- a device remembers at most ` + "`MaxPerDevice`" + ` destinations (default 256), a
  cohort ` + "`MaxPerCohort`" + ` destinations and as many TLS fingerprints (default
  65536); a full set drops its eighth with the oldest last-seen window;
- values are 64-bit hashes with the first and last window they were seen in,
  about 48 bytes each: at most ≈ 48 B × (MaxPerDevice × active devices +
  2 × MaxPerCohort × cohorts).
`)
	return b.Bytes()
}
