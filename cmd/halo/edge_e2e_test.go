package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestEdgeEndToEnd drives the edge as its users do, with real processes:
// halo up, halo tenants create, halo devices enroll, curl through the edge as
// the device, halo events ls, halo devices quarantine/release, halo block
// add, halo devices revoke — each command against the running halo up.
func TestEdgeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildHalo(t)
	data := filepath.Join(t.TempDir(), "data")
	apiAddr, edgeAddr := freeAddr(t), freeAddr(t)
	up := exec.Command(bin, "up", "--data", data, "--api-addr", apiAddr, "--edge-addr", edgeAddr, "--edge-resolve", "pay.example=127.0.0.1", "--edge-resolve", "updates.example=127.0.0.1")
	upErr := &syncBuffer{}
	up.Stderr = upErr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer func() {
		if up.ProcessState == nil {
			up.Process.Kill()
			<-exited
		}
	}()
	waitFor(t, func() bool { return strings.Contains(upErr.String(), "halo is up:") }, upErr)

	halo := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--data", data)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := runWithin(cmd, 30*time.Second); err != nil {
			t.Fatalf("halo %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &out, &errb)
		}
		return out.String(), errb.String()
	}
	out, _ := halo("tenants", "create", "acme")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	if !strings.HasPrefix(token, "halo_") || strings.Contains(token, " ") {
		t.Fatalf("the token is not alone on the last line:\n%s", out)
	}
	certs := filepath.Join(t.TempDir(), "certs")
	halo("devices", "enroll", "--tenant", "acme", "--device", "POS-00012", "--model", "P2", "--firmware", "1.4.2", "--out", certs)
	for name, mode := range map[string]os.FileMode{"POS-00012.crt": 0o644, "POS-00012.key": 0o600, "ca.crt": 0o644} {
		fi, err := os.Stat(filepath.Join(certs, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v mode %v, want %v", name, err, fi.Mode().Perm(), mode)
		}
	}

	var charged atomic.Int64
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		charged.Add(1)
		fmt.Fprint(w, `{"status":"approved"}`)
	}))
	defer dst.Close()
	_, port, _ := net.SplitHostPort(dst.Listener.Addr().String())
	curl := func(args ...string) (string, int) {
		t.Helper()
		base := []string{"-sS", "--max-time", "10", "--proxy", "https://" + edgeAddr, "--proxy-cacert", filepath.Join(certs, "ca.crt"),
			"--proxy-cert", filepath.Join(certs, "POS-00012.crt"), "--proxy-key", filepath.Join(certs, "POS-00012.key"), "-w", "\n%{http_code}"}
		b, _ := exec.Command("curl", append(base, args...)...).CombinedOutput()
		s := strings.TrimSpace(string(b))
		i := strings.LastIndex(s, "\n")
		var code int
		fmt.Sscanf(s[i+1:], "%d", &code)
		return s[:max(i, 0)], code
	}
	payment := `{"merchant":"M-1","terminal":"T-9","amount":"25.00","currency":"EUR","nonce":"e2e-1"}`
	if body, code := curl("-H", "Content-Type: application/json", "-d", payment, "http://pay.example:"+port+"/v1/charge"); code != 200 {
		t.Fatalf("payment through the edge: %d %s\nhalo up:\n%s", code, body, upErr)
	}
	if body, code := curl("-d", payment, "http://pay.example:"+port+"/v1/charge"); code != 403 || !strings.Contains(body, "replay_refused") {
		t.Fatalf("replayed payment: %d %s", code, body)
	}
	if charged.Load() != 1 {
		t.Fatalf("charged %d times", charged.Load())
	}

	// The events are in the log, read by another process.
	var txs []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(txs) < 2 && time.Now().Before(deadline) {
		out, _ = halo("events", "ls", "--type", "tx.observed", "--device", "POS-00012")
		txs = txs[:0]
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("events ls line %q: %v", l, err)
			}
			txs = append(txs, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(txs) != 2 || txs[0]["payload"].(map[string]any)["outcome"] != "forwarded" || txs[1]["payload"].(map[string]any)["outcome"] != "refused-replay" {
		t.Fatalf("tx.observed events: %v", txs)
	}

	waitCode := func(want int, args ...string) string {
		t.Helper()
		var body string
		var code int
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if body, code = curl(args...); code == want {
				return body
			}
		}
		t.Fatalf("%v: %d %s, want %d", args, code, body, want)
		return ""
	}
	// The pipeline reports the replay (critical) and blocks its fingerprint
	// at the edge: a third attempt is refused by that block.
	var alert, block map[string]any
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && (alert == nil || block == nil); time.Sleep(50 * time.Millisecond) {
		out, _ = halo("events", "ls", "--type", "alert.raised,intervention.applied")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			switch m["type"] {
			case "alert.raised":
				alert = m
			case "intervention.applied":
				block = m
			}
		}
	}
	if alert == nil || block == nil {
		t.Fatalf("no alert or intervention from the pipeline:\n%s", out)
	}
	ap, bp := alert["payload"].(map[string]any), block["payload"].(map[string]any)
	if ap["detector"] != "replay-attack" || ap["severity"] != "critical" || bp["alert_id"] != ap["alert_id"] {
		t.Fatalf("alert %v / intervention %v", ap, bp)
	}
	if body := waitCode(403, "-d", payment, "http://pay.example:"+port+"/v1/charge"); !strings.Contains(body, bp["intervention_id"].(string)) {
		t.Fatalf("the pipeline's block did not reach the edge: %s", body)
	}

	// The service provider sees and acknowledges it through the API.
	apiGet := func(path, tok string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", "http://"+apiAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, list := apiGet("/v1/alerts?detector=replay-attack", token)
	if code != 200 || len(list["alerts"].([]any)) != 1 {
		t.Fatalf("GET /v1/alerts: %d %v", code, list)
	}
	req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/alerts/"+ap["alert_id"].(string)+"/ack", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ack: %v %v", err, resp)
	}
	if code, a := apiGet("/v1/alerts/"+ap["alert_id"].(string), token); code != 200 || a["status"] != "acknowledged" {
		t.Fatalf("after ack: %d %v", code, a)
	}
	// The device's last activity shows in the API.
	var dev map[string]any
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, dev = apiGet("/v1/devices/POS-00012", token); dev["last_seen"] != nil {
			break
		}
	}
	if dev["last_seen"] == nil || dev["model"] != "P2" {
		t.Fatalf("GET /v1/devices/POS-00012: %v", dev)
	}
	out, _ = halo("tenants", "create", "globex")
	other := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	deadline = time.Now().Add(3 * time.Second)
	for code, _ = apiGet("/v1/alerts/"+ap["alert_id"].(string), other); code == 401 && time.Now().Before(deadline); code, _ = apiGet("/v1/alerts/"+ap["alert_id"].(string), other) {
		time.Sleep(50 * time.Millisecond)
	}
	if code != 404 {
		t.Fatalf("another tenant's token reading acme's alert: %d, want 404", code)
	}

	// Quarantine by hand: refused with the intervention's id; released: fine.
	out, _ = halo("devices", "quarantine", "--device", "POS-00012", "--reason", "e2e", "--expiry", "1h")
	qid := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if body := waitCode(403, "http://pay.example:"+port+"/x"); !strings.Contains(body, qid) {
		t.Fatalf("quarantine refusal does not name %s: %s", qid, body)
	}
	halo("devices", "release", "--device", "POS-00012")
	waitCode(200, "http://pay.example:"+port+"/x")

	// A factory device enrolled from its own certificate request: the key
	// never leaves it.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "factory"}}, key)
	csrFile := filepath.Join(certs, "POS-00077.csr")
	os.WriteFile(csrFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}), 0o644)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(certs, "POS-00077.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	halo("devices", "enroll", "--tenant", "acme", "--device", "POS-00077", "--csr", csrFile, "--out", certs)
	csrCurl, _ := exec.Command("curl", "-sS", "--max-time", "10", "--proxy", "https://"+edgeAddr, "--proxy-cacert", filepath.Join(certs, "ca.crt"),
		"--proxy-cert", filepath.Join(certs, "POS-00077.crt"), "--proxy-key", filepath.Join(certs, "POS-00077.key"),
		"-w", "\n%{http_code}", "http://pay.example:"+port+"/csr").CombinedOutput()
	if !strings.HasSuffix(strings.TrimSpace(string(csrCurl)), "200") {
		t.Fatalf("CSR-enrolled device: %s", csrCurl)
	}

	// halo agent on the device: a plain local proxy carried to the edge.
	agentAddr := freeAddr(t)
	ag := exec.Command(bin, "agent", "--edge", edgeAddr, "--cert", filepath.Join(certs, "POS-00012.crt"),
		"--key", filepath.Join(certs, "POS-00012.key"), "--ca", filepath.Join(certs, "ca.crt"), "--listen", agentAddr, "--server-name", "127.0.0.1")
	agErr := &syncBuffer{}
	ag.Stderr = agErr
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(agErr.String(), "halo agent is up") }, agErr)
	b, err := exec.Command("curl", "-sS", "--max-time", "10", "--proxy", "http://"+agentAddr, "-w", "\n%{http_code}", "http://pay.example:"+port+"/via-agent").CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(b)), "200") {
		t.Fatalf("curl through halo agent: %v %s\nagent:\n%s", err, b, agErr)
	}
	ag.Process.Signal(syscall.SIGTERM)
	if err := ag.Wait(); err != nil {
		t.Fatalf("halo agent after SIGTERM: %v\n%s", err, agErr)
	}

	// A block by host glob.
	out, _ = halo("block", "add", "--tenant", "acme", "--host", "pay.example", "--reason", "e2e block")
	bid := strings.TrimSpace(out)
	if body := waitCode(403, "http://pay.example:"+port+"/y"); !strings.Contains(body, bid) {
		t.Fatalf("block refusal does not name %s: %s", bid, body)
	}
	if ls, _ := halo("block", "ls"); !strings.Contains(ls, bid) {
		t.Fatalf("block ls lacks %s:\n%s", bid, ls)
	}
	halo("block", "rm", bid)
	waitCode(200, "http://pay.example:"+port+"/y")

	// Revocation: refused from then on.
	halo("devices", "revoke", "--device", "POS-00012", "--reason", "e2e")
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, code := curl("http://pay.example:" + port + "/z"); code != 200 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the revoked device still gets through")
		}
	}
	if ls, _ := halo("devices", "ls"); !strings.Contains(ls, "revoked") {
		t.Fatalf("devices ls:\n%s", ls)
	}
	// Metrics count the refusals by reason.
	resp, err := http.Get("http://" + apiAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`halo_edge_refusals_total{reason="replay"} 1`, `halo_edge_handshakes_total{result="revoked"}`, `halo_edge_publisher_spool_files 0`, `halo_pipeline_outputs_total{type="alert.raised"}`,
		"halo_eventlog_appended_events_total ", "halo_eventlog_corrupt_messages_total 0", "halo_eventlog_storage_restarts_total 0"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if regexp.MustCompile(`(?m)^halo_eventlog_appended_events_total 0$`).Match(m) {
		t.Error("/metrics says the log was appended nothing, though the edge recorded events")
	}

	up.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("halo up: %v\n%s", err, upErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("halo up did not stop\n%s", upErr)
	}
}

func buildHalo(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "halo")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
