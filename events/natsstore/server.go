package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/halo-sec/halo/internal/fsutil"
)

// Files under DataDir/nats.
const (
	natsDirName    = "nats"
	seedFileName   = "client.nk"   // nkey seed of Halo's NATS user, mode 0600
	serverFileName = "server.json" // address of the running embedded server
	lockFileName   = "lock"        // held by the process that serves the data directory
	storeDirName   = "jetstream"
)

// SeedFile returns the path of the credentials file (an nkey seed, mode
// 0600) that clients of the data directory's embedded server use.
func SeedFile(dataDir string) string { return filepath.Join(dataDir, natsDirName, seedFileName) }

// serverInfo is DataDir/nats/server.json.
type serverInfo struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
	// Holder is Config.Holder of the process (e.g. "halo replay").
	Holder string `json:"holder,omitempty"`
	// Serving: the process serves the log for others (ModeServe).
	Serving bool `json:"serving,omitempty"`
	// Yields: the process runs the server for itself only and hands the
	// data directory over when asked (Config.Yield).
	Yields bool `json:"yields,omitempty"`
}

// who names the process of si for messages: "halo replay (pid 42)".
func (si serverInfo) who() string {
	name := si.Holder
	if name == "" {
		name = "a process"
	}
	return fmt.Sprintf("%s (pid %d)", name, si.PID)
}

// handoverSubject is where a yielding process's store listens for a
// ModeServe process that wants the data directory (outside the stream's
// halo.> subjects).
const handoverSubject = "_HALO.handover"

// embedded is a nats-server running in this process on a data directory.
type embedded struct {
	srv  *server.Server
	lock *os.File
	file string
	url  string
	// writeErr is the server's first storage write error (no space left
	// on device, EFBIG, EIO), from its log: nats-server's file store keeps
	// failing every write after one, even once the disk has room again,
	// until the store is opened anew (Store.heal restarts the server).
	writeErr atomic.Pointer[string]
}

// loadOrCreateSeed returns the user nkey seed of dataDir, creating it with
// mode 0600 on first use. A seed readable by others is refused.
func loadOrCreateSeed(natsDir string) (seed []byte, pub string, err error) {
	path := filepath.Join(natsDir, seedFileName)
	seed, err = os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, "", fmt.Errorf("creating event log credentials: %w", err)
		}
		seed, err = kp.Seed()
		if err != nil {
			return nil, "", fmt.Errorf("creating event log credentials: %w", err)
		}
		if err := fsutil.WriteFileAtomic(path, seed, 0o600); err != nil {
			return nil, "", fmt.Errorf("writing event log credentials: %w", err)
		}
	} else if err != nil {
		return nil, "", fmt.Errorf("reading event log credentials: %w", err)
	} else if err := fsutil.CheckPrivate(path); err != nil {
		return nil, "", err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, "", fmt.Errorf("event log credentials %s: %w", path, err)
	}
	defer kp.Wipe()
	pub, err = kp.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("event log credentials %s: %w", path, err)
	}
	return seed, pub, nil
}

// hasEmbeddedStore reports whether dataDir holds an embedded server's
// JetStream files (any server ever started there made them).
func hasEmbeddedStore(dataDir string) bool {
	fi, err := os.Stat(filepath.Join(dataDir, natsDirName, storeDirName))
	return err == nil && fi.IsDir()
}

// startEmbedded starts the data directory's server in this process.
func startEmbedded(cfg *Config, logger *slog.Logger) (*embedded, error) {
	natsDir := filepath.Join(cfg.DataDir, natsDirName)
	if err := os.MkdirAll(natsDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", natsDir, err)
	}
	lock, _, err := fsutil.Lock(filepath.Join(natsDir, lockFileName))
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrDataDirInUse, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	e := &embedded{lock: lock, file: filepath.Join(natsDir, serverFileName)}
	ok := false
	defer func() {
		if !ok {
			e.shutdown()
		}
	}()
	_, pub, err := loadOrCreateSeed(natsDir)
	if err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address %q: %v", ErrConfig, cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("%w: listen port %q", ErrConfig, portStr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:             "halo",
		Host:                   host,
		Port:                   port,
		NoSigs:                 true,
		JetStream:              true,
		StoreDir:               filepath.Join(natsDir, storeDirName),
		Nkeys:                  []*server.NkeyUser{{Nkey: pub}},
		DisableJetStreamBanner: true,
		MaxPayload:             2 << 20,
	}
	if cfg.SyncInterval < 0 {
		opts.SyncAlways = true
	} else {
		opts.SyncInterval = cfg.SyncInterval
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configuring the embedded event log: %w", err)
	}
	srv.SetLoggerV2(&serverLogger{l: logger.With("component", "nats"), e: e}, false, false, false)
	e.srv = srv
	go srv.Start()
	if !srv.ReadyForConnections(60 * time.Second) {
		return nil, fmt.Errorf("%w: the embedded server did not start listening on %s within 60s", ErrNoServer, cfg.Listen)
	}
	e.url = srv.ClientURL()
	info, _ := json.Marshal(serverInfo{URL: e.url, PID: os.Getpid(), Holder: cfg.Holder,
		Serving: cfg.Mode == ModeServe, Yields: cfg.Mode == ModeAuto && cfg.Yield})
	if err := fsutil.WriteFileAtomic(e.file, info, 0o600); err != nil {
		return nil, fmt.Errorf("advertising the event log: %w", err)
	}
	ok = true
	logger.Debug("embedded event log started", "url", e.url, "data_dir", cfg.DataDir)
	return e, nil
}

// shutdown stops the server and releases the data directory. Safe to call
// twice.
func (e *embedded) shutdown() {
	if e.srv != nil {
		if e.url != "" {
			// Only remove the advertisement we wrote.
			if b, err := os.ReadFile(e.file); err == nil {
				var si serverInfo
				if json.Unmarshal(b, &si) == nil && si.PID == os.Getpid() {
					os.Remove(e.file)
				}
			}
		}
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.srv = nil
	}
	fsutil.Unlock(e.lock)
	e.lock = nil
}

// readServerInfo returns the advertised address of dataDir's server, if any.
func readServerInfo(dataDir string) (serverInfo, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, natsDirName, serverFileName))
	if err != nil {
		return serverInfo{}, false
	}
	var si serverInfo
	if json.Unmarshal(b, &si) != nil || si.URL == "" {
		return serverInfo{}, false
	}
	return si, true
}

// advertisedDialer dials the server that dir's server.json advertises
// when it says one, else the address asked for.
type advertisedDialer struct {
	dir     string
	timeout time.Duration
}

func (d advertisedDialer) Dial(network, address string) (net.Conn, error) {
	if si, ok := readServerInfo(d.dir); ok {
		if u, err := url.Parse(si.URL); err == nil && u.Host != "" {
			address = u.Host
		}
	}
	return net.DialTimeout(network, address, d.timeout)
}

// waitCtx sleeps d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// serverLogger adapts nats-server's logger to slog. Notices are debug
// messages for Halo: the server's banner is not the user's business.
type serverLogger struct {
	l *slog.Logger
	e *embedded // its write errors are noted there; nil: not noted
}

func (s *serverLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.l.Error(msg)
	// The file store's write failures, as nats-server v2.15 words them
	// (TestStorageWriteFailureHeals fails if that changes).
	if s.e != nil && (strings.Contains(msg, "failed to store a msg") || strings.Contains(msg, "Critical write error")) {
		s.e.writeErr.CompareAndSwap(nil, &msg)
	}
}
func (s *serverLogger) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLogger) Tracef(format string, v ...any) {}
