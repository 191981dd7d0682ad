package natsstore

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// healInterval is how often a serving store looks at its embedded server's
// storage, and at least how long it waits between two restarts (a variable
// for the tests).
var healInterval = 10 * time.Second

// heal runs while a store serves the data directory (ModeServe): when the
// embedded server's file store has failed a write (a full disk, most
// likely), every later write fails too, even once the disk has room again,
// and the log stays read-only until the process restarts. heal restarts
// the embedded server on the same port instead, every healInterval while
// writes fail: the clients (this process's, and the others through
// server.json) reconnect, and the edge's spool drains once the disk has
// room. Meanwhile Ping fails, so /healthz says the event log is
// unavailable.
func (s *Store) heal(stop <-chan struct{}) {
	t := time.NewTicker(s.healEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.embMu.Lock()
		e := s.emb
		healthy := e == nil || e.srv != nil && e.writeErr.Load() == nil
		s.embMu.Unlock()
		if healthy {
			continue
		}
		why := "it is not running"
		if msg := e.writeErr.Load(); msg != nil {
			why = *msg
		}
		if err := canWrite(filepath.Join(s.cfg.DataDir, natsDirName)); err != nil {
			// Still no room: the server keeps serving reads meanwhile
			// (stopped, it would serve nothing until there is).
			s.logger.Debug("the event log's storage cannot be written yet", "error", err)
			continue
		}
		if err := s.restartEmbedded(); err != nil {
			s.logger.Error("restarting the event log's server failed; trying again", "error", err, "retry_in", s.healEvery)
			continue
		}
		s.restarts.Add(1)
		s.logger.Warn("restarted the event log's server after a storage write failure", "failure", why, "data_dir", s.cfg.DataDir)
	}
}

// restartEmbedded stops the embedded server and starts it again on the
// same port, so that clients reconnect where they were.
func (s *Store) restartEmbedded() error {
	s.embMu.Lock()
	defer s.embMu.Unlock()
	if s.closed.Load() {
		return errors.New("the store is closed")
	}
	cfg := s.cfg
	if u, err := url.Parse(s.emb.url); err == nil && u.Host != "" {
		cfg.Listen = u.Host
	}
	s.emb.shutdown()
	emb, err := startEmbedded(&cfg, s.logger)
	if err != nil && cfg.Listen != s.cfg.Listen {
		emb, err = startEmbedded(&s.cfg, s.logger) // the port was taken meanwhile: clients follow server.json
	}
	if err != nil {
		return err // s.emb stays, stopped: heal tries again
	}
	s.emb = emb
	return nil
}

// storageErr is the embedded server's storage write failure, while heal
// has not yet restarted it.
func (s *Store) storageErr() error {
	if !s.embMu.TryLock() { // heal holds it while it restarts the server
		return errors.New("event log: its server is restarting")
	}
	e := s.emb
	stopped := e != nil && e.srv == nil
	s.embMu.Unlock()
	if e == nil {
		return nil
	}
	if stopped {
		return errors.New("event log: its server is restarting")
	}
	if msg := e.writeErr.Load(); msg != nil {
		when := "until its server restarts"
		if s.healStop != nil {
			when += " (within " + s.healEvery.String() + " once writes can succeed)"
		}
		return errors.New("event log: its storage failed a write, so it is read-only " + when + ": " + *msg)
	}
	return nil
}

// canWrite reports whether a block's worth (1 MiB) can be written in dir.
func canWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 1<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
