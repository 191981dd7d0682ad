package publish

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

func (p *Publisher) drainLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.RetryInterval)
	defer t.Stop()
	failing := false
	for {
		if p.spool.files.Load() > 0 || p.spool.spooling.Load() {
			failing = p.drain(ctx, failing)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *Publisher) stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-p.stop:
		return true
	default:
		return false
	}
}

// drain appends spool files to the log, oldest first, removing each once
// its Append has succeeded, until the spool is empty (then the publisher
// appends directly again) or an Append fails (the next attempt is
// RetryInterval later). Files that do not decode are moved aside. It
// returns whether the log is still failing.
func (p *Publisher) drain(ctx context.Context, failing bool) bool {
	var (
		files, evs int
		start      = time.Now()
	)
	for !p.stopped(ctx) {
		list, err := p.spool.list()
		if err != nil {
			p.logger.Error("cannot list the spool", "spool_dir", p.cfg.SpoolDir, "error", err)
			return failing
		}
		if len(list) == 0 {
			empty, wasSpooling := p.spool.stopIfEmpty()
			if !empty {
				continue
			}
			if wasSpooling {
				p.logger.Info("spool drained; appending to the event log directly again",
					"spool_dir", p.cfg.SpoolDir, "files", files, "events", evs, "took", time.Since(start))
			}
			return false
		}
		for _, f := range list {
			if p.stopped(ctx) {
				return failing
			}
			batch, err := p.spool.read(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				p.spool.quarantine(f, err)
				continue
			}
			rest, err := p.appendBatch(p.hardCtx, batch, true)
			if err != nil {
				if len(rest) < len(batch) {
					if rerr := p.spool.rewrite(f, rest); rerr != nil {
						p.logger.Error("cannot rewrite a partly drained spool file; its events will be appended again",
							"file", f.name, "error", rerr)
					}
				}
				level := p.logger.Debug
				if !failing {
					level = p.logger.Warn
				}
				level("event log still unreachable; spool drain paused", "spool_dir", p.cfg.SpoolDir,
					"spool_files", p.spool.files.Load(), "retry_in", p.cfg.RetryInterval, "error", err)
				return true
			}
			if failing {
				p.logger.Info("event log answers again; draining the spool", "spool_dir", p.cfg.SpoolDir,
					"spool_files", p.spool.files.Load())
				failing = false
			}
			if err := p.spool.remove(f); err != nil {
				p.logger.Error("cannot remove a drained spool file; its events will be appended again", "error", err)
				return failing
			}
			files++
			evs += len(batch)
		}
	}
	return failing
}
