package agent_test

import (
	"fmt"

	"github.com/halo-sec/halo/tunnel/agent"
)

// A device's agent: the app's proxy setting points at Listen, and all its
// traffic goes to the edge over mTLS with the enrolment's files.
func ExampleConfig_Validate() {
	cfg := agent.Config{
		Edge:     "edge.example.com:8443",
		CertFile: "/data/halo/POS-1.crt",
		KeyFile:  "/data/halo/POS-1.key",
		CAFile:   "/data/halo/ca.crt",
		Listen:   "0.0.0.0:3128",
	}
	fmt.Println(cfg.Validate())
	cfg.Listen = "127.0.0.1:3128"
	fmt.Println(cfg.Validate())
	// Output:
	// invalid agent configuration: listen address "0.0.0.0:3128" (0.0.0.0) is not loopback: any machine that reaches it would use the network as this device; listen on 127.0.0.1 or set AllowRemote (--allow-remote)
	// <nil>
}
