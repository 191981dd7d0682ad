package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/halo-sec/halo/tunnel/agent"
)

func newAgentCmd(a *app) *cobra.Command {
	var (
		cfg    agent.Config
		edge   string
		listen = addrFlag{value: "127.0.0.1:3128"}
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run on a device: a plain local proxy carried to the edge over mTLS",
		Long: `Run on a device whose apps can only use a plain local proxy (Android's global
proxy setting). The agent listens on --listen (loopback only), accepts
CONNECT and absolute-form HTTP requests with keep-alive, and carries each
local connection to the edge over mTLS with the device's certificate. It
keeps a few connections ready (no handshake on a new request), reconnects
with backoff when the edge is unreachable (a local client gets a clear 502
JSON error meanwhile, never a hang), reports the edge's refusal of its
certificate once, and picks up renewed certificate files without a restart.`,
		Example: `  halo agent --edge edge.example.com:8443 --cert POS-00012.crt --key POS-00012.key --ca ca.crt
  # then point the device's global proxy at 127.0.0.1:3128, or:
  curl --proxy http://127.0.0.1:3128 https://example.com/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if edge == "" {
				errs = append(errs, errors.New("--edge is required"))
			}
			if cfg.CertFile == "" || cfg.KeyFile == "" || cfg.CAFile == "" {
				errs = append(errs, errors.New("--cert, --key and --ca are required (from halo devices enroll)"))
			}
			if err := errors.Join(errs...); err != nil {
				return &usageError{err}
			}
			cfg.Edge, cfg.Listen = edge, listen.value
			ag, err := agent.New(cfg, a.logger)
			if err != nil {
				if errors.Is(err, agent.ErrConfig) {
					return &usageError{err}
				}
				return err
			}
			if err := ag.Listen(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "halo agent is up: local proxy http://%s, edge %s\n", ag.Addr(), edge)
			err = ag.Run(cmd.Context())
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&edge, "edge", "", "the edge's `HOST:PORT` (required; e.g. --edge edge.example.com:8443)")
	fs.StringVar(&cfg.CertFile, "cert", "", "the device's certificate `FILE` (required; e.g. --cert POS-00012.crt)")
	fs.StringVar(&cfg.KeyFile, "key", "", "the device's private key `FILE` (required; e.g. --key POS-00012.key)")
	fs.StringVar(&cfg.CAFile, "ca", "", "the CA `FILE` that signs the edge's certificate (required; e.g. --ca ca.crt)")
	fs.StringVar(&cfg.ServerName, "server-name", "", "name to verify the edge's certificate against, when it differs from --edge's host (e.g. --server-name edge.example.com)")
	fs.Var(&listen, "listen", "local proxy address, loopback only unless --allow-remote (e.g. --listen 127.0.0.1:3128)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "accept non-loopback --listen addresses: anyone who reaches it uses the device's identity (e.g. --allow-remote)")
	fs.IntVar(&cfg.Warm, "warm", 0, "ready connections kept to the edge; -1 for none (default 2; e.g. --warm 4)")
	fs.IntVar(&cfg.MaxConns, "max-conns", 0, "most concurrent local connections, more get 503 (default 256; e.g. --max-conns 64)")
	return cmd
}
