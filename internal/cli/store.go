package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/halo-sec/halo/events/natsstore"
)

// storeFlags are the flags of every command that opens the event log.
type storeFlags struct {
	dataDir   string
	natsURL   string
	natsCreds string
	// mustExist: the command only reads the log or changes what it holds,
	// so a missing log is an error, not a new empty one made in a
	// mistyped --data (natsstore.Config.MustExist).
	mustExist bool
	// role: the command serves others (the edge, pipeline or API run
	// alone), so a log it started for itself is not handed over to halo
	// up; every other command's is (natsstore.Config.Yield), halo sim's
	// too (it drives a running halo up's edge).
	role bool
}

const dataDirHelp = "data directory `DIR`: the embedded event log keeps its files in DIR/nats, and a running 'halo up' advertises itself there (default $XDG_DATA_HOME/halo, else ~/.local/share/halo; e.g. --data /var/lib/halo)"

func (f *storeFlags) register(fs *pflag.FlagSet, dataHelp string) {
	fs.StringVar(&f.dataDir, "data", "", dataHelp)
	fs.StringVar(&f.natsURL, "nats", "", "use the external NATS server or cluster at `URL` instead of the embedded one (comma-separated URLs, e.g. --nats nats://nats-1:4222,nats://nats-2:4222)")
	fs.StringVar(&f.natsCreds, "nats-creds", "", "NATS credentials `FILE` (nkey seed or .creds) for --nats (e.g. --nats-creds /etc/halo/nats.creds)")
}

// config validates the flags and returns the store configuration for mode.
func (f *storeFlags) config(mode natsstore.Mode) (natsstore.Config, error) {
	var errs []error
	dir, err := resolveDataDir(f.dataDir)
	if err != nil {
		errs = append(errs, err)
	}
	if f.natsURL != "" {
		if err := checkNATSURLs(f.natsURL); err != nil {
			errs = append(errs, fmt.Errorf("invalid --nats %q: %w", f.natsURL, err))
		}
	}
	if f.natsCreds != "" {
		if f.natsURL == "" {
			errs = append(errs, errors.New("--nats-creds needs --nats (the embedded server keeps its own credentials in the data directory)"))
		} else if _, err := os.Stat(f.natsCreds); err != nil {
			errs = append(errs, fmt.Errorf("invalid --nats-creds: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return natsstore.Config{}, &usageError{err}
	}
	return natsstore.Config{DataDir: dir, URL: f.natsURL, CredsFile: f.natsCreds, Mode: mode, MustExist: f.mustExist && mode == natsstore.ModeAuto, Yield: !f.role}, nil
}

// resolveDataDir returns the absolute data directory: flag, else
// $XDG_DATA_HOME/halo, else ~/.local/share/halo.
func resolveDataDir(flag string) (string, error) {
	dir := flag
	if dir == "" {
		if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
			dir = filepath.Join(x, "halo")
		} else {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no default data directory (%v): give one with --data DIR", err)
			}
			dir = filepath.Join(home, ".local", "share", "halo")
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("invalid --data %q: %w", dir, err)
	}
	return abs, nil
}

// checkNATSURLs checks a comma-separated list of NATS server URLs.
func checkNATSURLs(s string) error {
	for u := range strings.SplitSeq(s, ",") {
		u = strings.TrimSpace(u)
		p, err := url.Parse(u)
		if err != nil {
			return err
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: want nats://HOST:PORT (or tls://, ws://, wss://)", u)
		}
		if p.Host == "" {
			return fmt.Errorf("%q has no host", u)
		}
	}
	return nil
}

// redactURLs hides the passwords of a comma-separated URL list, for logs.
func redactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, u := range parts {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil {
			parts[i] = p.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
