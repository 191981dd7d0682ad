package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/halo-sec/halo/events"
)

// appendGrace is how long an Append whose context has ended may still take
// to return before the publisher stops waiting for it.
const appendGrace = 100 * time.Millisecond

func (p *Publisher) flushLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		case <-t.C:
		case <-p.kick:
		}
		p.flush(p.hardCtx, false)
	}
}

// maxFreeBlocks bounds the buffer blocks kept for reuse.
const maxFreeBlocks = 8

// chunk is a run of held events: a block of the buffer, or what is left of
// one.
type chunk struct {
	evs   []events.Event
	block []events.Event // the buffer block evs is part of, reused once evs is handled
}

// cut takes the buffered events, a chunk per buffer block.
func (p *Publisher) cut() {
	// Allocate a block, if one is needed, outside the lock Emit takes.
	p.mu.Lock()
	need := len(p.free) == 0
	p.mu.Unlock()
	var fresh []events.Event
	if need {
		fresh = make([]events.Event, 0, p.cfg.MaxBatch)
	}
	p.mu.Lock()
	blocks := p.ready
	if len(p.cur) > 0 {
		blocks = append(blocks, p.cur)
		if len(p.free) == 0 && fresh != nil {
			p.cur = fresh
		} else {
			p.cur = p.newBlock()
		}
	}
	p.ready = nil
	n := p.buffered
	p.buffered = 0
	p.mu.Unlock()
	for _, b := range blocks {
		p.held = append(p.held, chunk{evs: b, block: b})
	}
	p.heldEvents.Add(int64(n))
}

// release returns a block the flusher is done with for reuse.
func (p *Publisher) release(block []events.Event) {
	clear(block[:cap(block)])
	p.mu.Lock()
	if len(p.free) < maxFreeBlocks {
		p.free = append(p.free, block[:0])
	}
	p.mu.Unlock()
}

// flush hands the buffered events, and any held from an earlier flush, to
// the log or the spool, in order. Events that can go to neither (the log is
// unreachable and the spool full or failing) stay held in memory, and Emit
// refuses new ones until they are handled. In the final flush (Close) the
// spool size limit does not apply, and events that are still held are
// reported lost.
func (p *Publisher) flush(ctx context.Context, final bool) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()

	p.cut()
	if len(p.held) == 0 {
		return nil
	}

	start := time.Now()
	total := p.heldEvents.Load()
	var lastErr error
	for len(p.held) > 0 {
		spooled, n, err := p.spool.write(p.held[0].evs, false, !final)
		p.trimHeld(n)
		if err != nil {
			lastErr = err
			break
		}
		if !spooled {
			evs := p.held[0].evs
			rest, err := p.appendBatch(ctx, evs, false)
			if err != nil {
				// An abandoned Append may still read the block.
				p.held[0].block = nil
			}
			p.trimHeld(len(evs) - len(rest))
			if err != nil {
				p.logger.Warn("event log unreachable; spooling events until it answers",
					"spool_dir", p.cfg.SpoolDir, "events", len(rest), "error", err)
				_, n, err := p.spool.write(rest, true, !final)
				p.trimHeld(n)
				if err != nil {
					lastErr = err
					break
				}
			}
		}
	}
	p.lastFlush.Store(int64(time.Since(start)))
	p.lastFlushEvents.Store(total)

	if len(p.held) > 0 {
		if final {
			n := p.heldEvents.Load()
			p.logger.Error("events lost: the event log is unreachable and the spool cannot take them",
				"spool_dir", p.cfg.SpoolDir, "events", n, "error", lastErr)
			return fmt.Errorf("publish: %d events could be neither appended nor spooled: %w", n, lastErr)
		}
		p.full.Store(true)
		if !p.unhealthy {
			p.logger.Error("event log unreachable and spool full: refusing new events",
				"spool_dir", p.cfg.SpoolDir, "held_events", p.heldEvents.Load(),
				"spool_bytes", p.spool.bytes.Load(), "spool_max_bytes", p.cfg.SpoolMaxBytes, "error", lastErr)
		}
		p.unhealthy = true
		return nil
	}
	p.held = nil
	p.full.Store(false)
	if p.unhealthy {
		p.logger.Info("spool has room again; accepting events", "spool_dir", p.cfg.SpoolDir)
	}
	p.unhealthy = false
	return nil
}

// trimHeld drops the first n events of the first held chunk, and the chunk
// when nothing of it is left.
func (p *Publisher) trimHeld(n int) {
	if n == 0 {
		return
	}
	p.heldEvents.Add(-int64(n))
	c := &p.held[0]
	if c.evs = c.evs[n:]; len(c.evs) == 0 {
		if c.block != nil {
			p.release(c.block)
		}
		*c = chunk{}
		p.held = p.held[1:]
	}
}

// appendBatch appends evs to the log. When the log refuses the batch as
// invalid (which Emit's validation should have prevented), it appends the
// events one by one and sets the refused ones aside in SpoolDir/rejected/.
// On any other failure it returns the events still to be appended.
func (p *Publisher) appendBatch(ctx context.Context, evs []events.Event, fromSpool bool) ([]events.Event, error) {
	err := p.timedAppend(ctx, evs)
	if err == nil {
		p.count(len(evs), fromSpool)
		return nil, nil
	}
	if !refusedByLog(err) {
		p.appendErrors.Add(1)
		return evs, err
	}
	p.logger.Warn("the event log refused a batch as invalid; appending its events one by one",
		"events", len(evs), "error", err)
	for i := range evs {
		switch err := p.timedAppend(ctx, evs[i:i+1]); {
		case err == nil:
			p.count(1, fromSpool)
		case refusedByLog(err):
			p.spool.reject(&evs[i], err)
		default:
			p.appendErrors.Add(1)
			return evs[i:], err
		}
	}
	return nil, nil
}

func (p *Publisher) count(n int, fromSpool bool) {
	p.appended.Add(uint64(n))
	if fromSpool {
		p.drained.Add(uint64(n))
	}
}

// timedAppend appends evs within AppendTimeout. It does not rely on the
// store honouring its context: an Append that has not returned shortly
// after the deadline is abandoned (it may still land; event ids make the
// later retry harmless) and reported as a timeout.
func (p *Publisher) timedAppend(parent context.Context, evs []events.Event) error {
	ctx, cancel := context.WithTimeout(parent, p.cfg.AppendTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.store.Append(ctx, evs...) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		grace := time.NewTimer(appendGrace)
		select {
		case err = <-done:
		case <-grace.C:
			err = ctx.Err()
		}
		grace.Stop()
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("appending %d events: no acknowledgement within %v: %w", len(evs), p.cfg.AppendTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("appending %d events: %w", len(evs), err)
	}
	return nil
}

// refusedByLog reports whether an Append error means the events themselves
// are unacceptable, so that retrying cannot help.
func refusedByLog(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	return errors.Is(err, events.ErrInvalidEvent) || errors.Is(err, events.ErrInvalidTenant) ||
		errors.Is(err, events.ErrInvalidDevice) || errors.Is(err, events.ErrTooLarge) ||
		errors.Is(err, events.ErrUnknownType)
}
