package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/api"
	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/internal/fsutil"
	"github.com/halo-sec/halo/pipeline"
	"github.com/halo-sec/halo/policy"
	"github.com/halo-sec/halo/replay"
)

func newReplayCmd(a *app) *cobra.Command {
	var (
		sf           = storeFlags{mustExist: true}
		pf           pipelineFlags
		from, to     timeFlag
		tenant       tenantFlag
		device       deviceFlag
		labelFile    string
		out          string
		baseline     bool
		polFile      string
		modelFile    string
		sortBuffer   int
		liveSettings bool
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Backtest the detectors over a range of the log into a sandbox",
		Long: `Read a range of the event log (everything without --from/--to), run the
pipeline over it in (event time, id) order into a sandbox — nothing reaches
the live alert feed or the edge — and write
OUTDIR/alerts.jsonl (one alert per line, the API's JSON),
OUTDIR/interventions.jsonl (what the policy would have done, as
intervention.applied events: dry run), OUTDIR/report.json and
OUTDIR/report.html (the
same figures with charts, viewable offline): precision, recall, F1 and
their counts over (device, window) pairs, per detector and per label, time to
detect, and false alerts per device-day. Labels come from label.recorded
events in the range (imports, verdicts) and from --labels (JSON lines
{"tenant","device","label","start","end"}, the simulator's format). The same
range and options give byte-identical alerts.jsonl. With --from, the
--warmup period before it (default 24h, the detectors' baseline horizon) is
replayed first to build baselines; nothing in it is reported. --baseline
compares the candidate's alerts with those the live pipeline raised over the
same range (alerts match on their derived id: detector, key and window):
what the candidate adds and what it misses, overall and per detector.
A range of any size replays in bounded memory: beyond --sort-buffer events
it is sorted by event time in runs on disk under OUTDIR (removed at the
end), and only the pipeline's state and the alerts it raised stay in memory.

--policy FILE backtests a candidate policy (the YAML of halo policy set): it
is every tenant's policy for the replay, and the policies recorded in the log
are ignored. --model FILE backtests a candidate model (an artifact of halo
models train): the anomaly detector scores every cohort with it instead of
training its own.

The settings the flags leave unset (--window, --lateness, --suppression,
--detectors, --detector-option) are those the live pipeline recorded in the
log (pipeline.configured), so that the same events give the same windows and
alerts; report.json .settings says which ran. A flag overrides its setting
only; --live-settings=false gives this build's defaults.`,
		Example: `  halo import zeek --tenant lab conn.log.labeled
  halo replay --tenant lab --out /tmp/backtest && jq .overall /tmp/backtest/report.json

  # A candidate policy and model over last week, against what ran live
  halo replay --from 168h --policy strict.yaml --model iforest.json --baseline --out /tmp/candidate`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			defer replay.BatchGC()()
			if err := checkOutDir(out); err != nil {
				return err
			}
			if !from.value.IsZero() && !to.value.IsZero() && !from.value.Before(to.value) {
				return usageErrorf("--from %s is not before --to %s", from.String(), to.String())
			}
			pcfg, err := pf.config()
			if err != nil {
				return err
			}
			if polFile != "" {
				b, err := os.ReadFile(polFile)
				if err != nil {
					return &usageError{fmt.Errorf("--policy: %w", err)}
				}
				doc, err := policy.Parse(b)
				if err == nil {
					err = knownDetectors(doc)
				}
				if err != nil {
					return &usageError{fmt.Errorf("--policy %s: %w", polFile, err)}
				}
				pcfg.Policy = &doc
			}
			if modelFile != "" {
				if len(pcfg.Detectors) > 0 && !slices.Contains(pcfg.Detectors, "anomaly") {
					return usageErrorf("--model scores with the anomaly detector, which --detectors leaves out")
				}
				// Over the anomaly detector's other options, not the
				// other detectors' (they were dropped).
				pcfg.DetectorOptions = maps.Clone(pcfg.DetectorOptions)
				if pcfg.DetectorOptions == nil {
					pcfg.DetectorOptions = map[string]map[string]string{}
				}
				pcfg.DetectorOptions["anomaly"] = map[string]string{"model": modelFile}
				if _, err := pipeline.NewProcessor(pcfg); err != nil { // a bad artifact is reported before reading the log
					return &usageError{fmt.Errorf("--model: %w", err)}
				}
			}
			var fileLabels []replay.Label
			if labelFile != "" {
				if fileLabels, err = readLabels(labelFile); err != nil {
					return &usageError{err}
				}
			}
			ctx := cmd.Context()
			store, err := openStore(ctx, a, &sf)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := requireTenant(ctx, store, tenant.value); err != nil {
				fmt.Fprintf(a.stderr, "warning: %v: nothing of it to read\n", err)
			}
			var live *pipeline.Settings
			if liveSettings {
				if live, err = applyLiveSettings(ctx, a, cmd.Flags(), store, &pcfg, from.value, to.value); err != nil {
					return err
				}
				if modelFile != "" && len(pcfg.Detectors) > 0 && !slices.Contains(pcfg.Detectors, "anomaly") {
					return usageErrorf("--model scores with the anomaly detector, which the live pipeline's detectors (%s) leave out: give --detectors", strings.Join(pcfg.Detectors, ","))
				}
			}
			if modelFile != "" {
				if w, err := modelWindow(modelFile); err != nil || w != 0 && w != pcfg.Window() {
					if err != nil {
						return &usageError{fmt.Errorf("--model: %w", err)}
					}
					return usageErrorf("--model %s was trained on %v windows, this replay's are %v: give --window %v (or train it on an export of %v windows)", modelFile, w, pcfg.Window(), w, pcfg.Window())
				}
			}
			// --warmup: the history before --from is replayed first to build
			// baselines; nothing timed before --from is reported.
			readFrom := from.value
			if !readFrom.IsZero() {
				readFrom = readFrom.Add(-pcfg.Warmup)
			}
			warnTrimmed(ctx, a, store, readFrom)
			q := events.Query{From: readFrom, To: to.value, Tenant: tenant.value, Device: device.value}
			// The log is in append order: sort by (time, id) in bounded
			// memory, spilling sorted runs next to the output when the
			// range is larger than --sort-buffer events.
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			removeStaleSortDirs(a, out)
			sorter := events.NewTimeSorter(out, sortBuffer)
			sorter.DropRepeats = true // read without remembering every id: repeats go after sorting
			defer sorter.Close()
			window := pcfg.Window()
			tally := &replay.RangeTally{From: from.value, KeepLive: baseline, Window: window}
			lastSeq, _ := store.LastSeq(ctx)
			start, last := time.Now(), time.Now()
			var firstSeq uint64
			// The outputs are folded as the replay makes them: what the
			// report needs of them is kept, not every output event. The
			// replay runs during the read when the range comes in time
			// order (ReadRun), else from the sorter after it.
			outs := replay.NewOutputs(from.value)
			// Which has no use for model.deployed events: the processor
			// makes none, nor seals the models no alert names.
			pcfg.NoModelEvents = true
			var (
				total, nread  int
				pstart, plast time.Time
			)
			rr := replay.ReadRun{Query: q, Sorter: sorter, Config: pcfg, Sink: outs.Add}
			rr.Each = func(ev *events.Event) {
				if firstSeq == 0 {
					firstSeq = ev.Seq
				}
				tally.Add(ev)
				nread++
				if time.Since(last) > time.Second {
					last = time.Now()
					n := nread
					rate := float64(n) / time.Since(start).Seconds()
					spill := ""
					if sorter.Runs() > 0 {
						spill = fmt.Sprintf(", %d sorted to disk", sorter.Spilled())
					}
					if done := float64(ev.Seq-firstSeq+1) / float64(max(1, lastSeq-firstSeq+1)); done > 0 && done <= 1 {
						eta := (time.Duration(float64(time.Since(start)) * (1 - done) / done)).Round(time.Second).String()
						fmt.Fprintf(a.stderr, "\rread %d events (%.0f/s%s), %3.0f%% of the log, ETA %s   ", n, rate, spill, 100*done, eta)
					} else {
						fmt.Fprintf(a.stderr, "\rread %d events (%.0f/s%s)   ", n, rate, spill)
					}
				}
			}
			rr.ReadDone = func(read int) {
				total = read
				spilled := ""
				if sorter.Runs() > 0 {
					spilled = fmt.Sprintf(" (sorted in %d runs on disk: more than --sort-buffer %d)", sorter.Runs(), sortBuffer)
				}
				fmt.Fprintf(a.stderr, "\rread %d events in %v%s; replaying\n", total, time.Since(start).Round(time.Millisecond), spilled)
				if tally.WarmUp > 0 {
					fmt.Fprintf(a.stderr, "warm-up: %d events before %s replayed to build baselines, not reported\n", tally.WarmUp, from.value.UTC().Format(time.RFC3339))
				}
				pstart = time.Now()
				plast = pstart
			}
			rr.Progress = func(done int) {
				if time.Since(plast) < time.Second {
					return
				}
				plast = time.Now()
				el := time.Since(pstart)
				eta := time.Duration(float64(el) * float64(total-done) / float64(done)).Round(time.Second)
				fmt.Fprintf(a.stderr, "\rreplayed %d of %d events (%.0f/s), %3.0f%%, ETA %s   ", done, total, float64(done)/el.Seconds(), 100*float64(done)/float64(total), eta)
			}
			rst, err := rr.Run(ctx, store)
			if ctx.Err() != nil {
				fmt.Fprintln(a.stderr)
				return errInterrupted
			}
			if err != nil {
				return err
			}
			stats := rst.Stats
			if !from.value.IsZero() { // labels wholly inside the warm-up are not scored
				fileLabels = slices.DeleteFunc(fileLabels, func(l replay.Label) bool { return l.End.Before(from.value) })
			}
			labels := append(tally.Labels, fileLabels...)
			deviceDays := tally.DeviceDays()
			if time.Since(pstart) >= time.Second {
				fmt.Fprintf(a.stderr, "\rreplayed %d events in %v%s\n", total-rst.Repeats, time.Since(pstart).Round(time.Millisecond), strings.Repeat(" ", 30))
			}
			if n := stats.ForeignTicks; n > 0 {
				fmt.Fprintf(a.stderr, "warning: %d clock ticks of the log name partitions of another count than this replay's %d: ignored, its windows closed by the events alone\n", n, rr.Config.Partitions)
			}
			if n := rst.Repeats; n > 0 {
				fmt.Fprintf(a.stderr, "%d events the log holds more than once were replayed once\n", n)
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(out, "interventions.jsonl"), outs.Interventions, 0o644); err != nil {
				return err
			}
			var buf []byte
			for _, r := range outs.Raised {
				al, ok := outs.Set.Get(r[0], r[1])
				if !ok {
					continue
				}
				b, err := api.MarshalAlert(al)
				if err != nil {
					return err
				}
				buf = append(append(buf, b...), '\n')
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(out, "alerts.jsonl"), buf, 0o644); err != nil {
				return err
			}
			candidate := outs.Candidate()
			rep := replay.Evaluate(candidate, labels, window, deviceDays, tally.Activity())
			rep.Settings = replay.SettingsOf(pcfg, live)
			if baseline {
				d := replay.CompareBaseline(tally.Live, candidate)
				if lw, ok := replay.LiveWindow(tally.Live); ok && lw != window {
					// Alert ids hold the window: none can match.
					d.Note = fmt.Sprintf("the live pipeline's alerts are over %v windows, this replay's over %v: give --window %v (and the live pipeline's other settings, such as --lateness and --detector-option, if they differ) to compare like with like", lw, window, lw)
					fmt.Fprintf(a.stderr, "warning: --baseline: %s\n", d.Note)
				}
				rep.Baseline = &d
				fmt.Fprintf(a.stdout, "baseline: %d live alerts, %d candidate; %d in both, %d added, %d missed (report.json .baseline)\n", d.Live, d.Candidate, d.Both, len(d.Added), len(d.Missed))
			}
			rb, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(out, "report.json"), append(rb, '\n'), 0o644); err != nil {
				return err
			}
			var page bytes.Buffer
			if err := replay.WriteHTML(&page, rep, candidate, labels, window); err != nil {
				return err
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(out, "report.html"), page.Bytes(), 0o644); err != nil {
				return err
			}
			figures := fmt.Sprintf("precision %.3f recall %.3f F1 %.3f (tp %d fp %d fn %d)", rep.Overall.Precision, rep.Overall.Recall, rep.Overall.F1, rep.Overall.TP, rep.Overall.FP, rep.Overall.FN)
			if len(labels) == 0 {
				// Every alert would count as a false one.
				figures = "no labels in the range (label.recorded events, or --labels FILE): precision and recall not measured"
			}
			fmt.Fprintf(a.stdout, "%d events, %d windows, %d alerts, %d interventions (dry run) in %v: %s; %s\n",
				stats.Events, stats.Windows, len(outs.Raised), outs.NInterventions, time.Since(pstart).Round(time.Millisecond), figures, out)
			return nil
		},
	}
	fs := cmd.Flags()
	sf.register(fs, dataDirHelp)
	pf.register(fs)
	fs.Var(&from, "from", "start of the range, event time (RFC 3339, a date, or a duration ago; e.g. --from 2022-06-12)")
	fs.Var(&to, "to", "end of the range, event time, exclusive (e.g. --to 2022-06-14)")
	fs.Var(&tenant, "tenant", "only this tenant's events (e.g. --tenant lab)")
	fs.Var(&device, "device", "only this device's events (e.g. --device 192.168.1.115)")
	fs.StringVar(&labelFile, "labels", "", "labels `FILE`, JSON lines {\"tenant\",\"device\",\"label\",\"start\",\"end\"} (e.g. --labels attacks.jsonl)")
	fs.BoolVar(&baseline, "baseline", false, "compare with the alerts the live pipeline raised over the same range: report.json .baseline lists what the candidate adds and misses (e.g. --from 2026-11-01 --baseline)")
	fs.StringVar(&polFile, "policy", "", "backtest this candidate policy `FILE` (YAML, as for halo policy set) for every tenant instead of the recorded ones (e.g. --policy strict.yaml)")
	fs.StringVar(&modelFile, "model", "", "backtest this model artifact `FILE` (halo models train): the anomaly detector scores every cohort with it (e.g. --model iforest.json)")
	fs.IntVar(&sortBuffer, "sort-buffer", events.DefaultSortEvents, "events held in memory to sort the range by event time; a larger range is sorted in runs on disk under OUTDIR, removed at the end (e.g. --sort-buffer 500000)")
	fs.StringVar(&out, "out", "", "`OUTDIR` for alerts.jsonl and report.json (required; e.g. --out /tmp/backtest)")
	liveSettingsFlag(fs, &liveSettings)
	return cmd
}

// maxLabelLine bounds one line of a labels file.
const maxLabelLine = 1 << 20

// readLabels reads a JSON-lines labels file; each label is malicious.
func readLabels(path string) ([]replay.Label, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseLabels(f, path)
}

// parseLabels reads JSON-lines labels from r ({"tenant","device","label",
// "start","end"} and an optional "detail"; blank lines are skipped); each
// is malicious. Errors name the file and the line.
func parseLabels(r io.Reader, name string) ([]replay.Label, error) {
	var out []replay.Label
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLabelLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l replay.Label
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s line %d: more than one JSON value on the line", name, n)
		}
		if l.Tenant == "" || l.Device == "" || l.Start.IsZero() {
			return nil, fmt.Errorf("%s line %d: tenant, device and start are required", name, n)
		}
		if l.End.IsZero() {
			l.End = l.Start
		}
		if l.End.Before(l.Start) {
			return nil, fmt.Errorf("%s line %d: end %s is before start %s", name, n, l.End.Format(time.RFC3339Nano), l.Start.Format(time.RFC3339Nano))
		}
		l.Malicious = true
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s line %d: longer than %d bytes", name, n+1, maxLabelLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
