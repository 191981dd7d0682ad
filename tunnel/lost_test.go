package tunnel

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// newSlowServer answers 200 at once, then streams 6.4 MB over a second: a
// device has time to go away in the middle. It counts requests in n.
func newSlowServer(t *testing.T, n *atomic.Int32) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n != nil {
			n.Add(1)
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 100 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// A device that goes away in the middle of a response (a terminal that
// timed out) still gets its request recorded: tx.observed with the
// destination's status, and conn.closed with reason client. The reverse
// proxy aborts such a request with a panic that used to skip conn.closed.
func TestDeviceGoneMidResponseIsRecorded(t *testing.T) {
	env := newEnv(t, nil)
	up := newSlowServer(t, nil)
	proxy, _ := url.Parse("https://" + env.addr)
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: deviceTLS(t, env.files)}
	resp, err := (&http.Client{Transport: tr}).Post(up.URL+"/v1/charge", "application/json", strings.NewReader(`{"amount":"1.00","nonce":"n1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 1000))
	resp.Body.Close() // before the end of the body: the transport drops the connection
	tr.CloseIdleConnections()
	closed := env.waitEvents(1, events.TypeConnClosed)[0].Payload.(*events.ConnClosed)
	if closed.Reason != events.CloseReason_CLOSE_REASON_CLIENT || closed.BytesDown == 0 || !strings.Contains(closed.Error, "went away") {
		t.Fatalf("conn.closed %v, want reason client with the bytes sent so far", closed)
	}
	tx := env.waitEvents(1, events.TypeTxObserved)[0].Payload.(*events.TxObserved)
	if tx.Status != http.StatusOK || tx.ConnId != closed.ConnId {
		t.Fatalf("tx.observed %v", tx)
	}
	if n := testutilValue(env.metrics.Requests.WithLabelValues("http", "client_gone")); n != 1 {
		t.Fatalf("requests{outcome=client_gone} = %v, want 1", n)
	}
}

// The device whose approval was lost retries the same payment: the shield
// refuses it (it was charged once) as that device's retry, 403
// already_succeeded and outcome refused-retry, not as a replay; the same
// body from another device is a replay. A restarted edge knows which
// successes were lost from the log.
func TestRetryOfALostResponseIsNotAReplay(t *testing.T) {
	env := newEnv(t, nil)
	var charges atomic.Int32
	up := newSlowServer(t, &charges)
	const body = `{"amount":"12.50","currency":"EUR","nonce":"n-lost","terminal":"POS-1"}`
	post := func(f deviceFiles, readAll bool) (int, string) {
		proxy, _ := url.Parse("https://" + env.addr)
		tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: deviceTLS(t, f)}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post(up.URL+"/v1/charge", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if !readAll {
			resp.Body.Read(make([]byte, 1000))
			return resp.StatusCode, ""
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(env.files, false); code != http.StatusOK { // the device goes away mid-response
		t.Fatalf("first attempt: %d", code)
	}
	env.waitEvents(1, events.TypeConnClosed)
	check := func(when string) {
		t.Helper()
		code, msg := post(env.files, true)
		if code != http.StatusForbidden || !strings.Contains(msg, "already_succeeded") || !strings.Contains(msg, "never reached this device") {
			t.Fatalf("%s: the device's retry got %d %s, want 403 already_succeeded", when, code, msg)
		}
		if charges.Load() != 1 {
			t.Fatalf("%s: the payment server was charged %d times", when, charges.Load())
		}
	}
	check("live")
	var outcomes []events.TxOutcome
	for _, ev := range env.waitEvents(2, events.TypeTxObserved) {
		outcomes = append(outcomes, ev.Payload.(*events.TxObserved).Outcome)
	}
	if outcomes[1] != events.TxOutcome_TX_OUTCOME_REFUSED_RETRY {
		t.Fatalf("tx.observed outcomes %v, want forwarded then refused-retry", outcomes)
	}
	other := env.enroll("POS-2")
	if code, msg := post(other, true); code != http.StatusForbidden || !strings.Contains(msg, "replay_refused") {
		t.Fatalf("another device sending the same payment got %d %s, want 403 replay_refused", code, msg)
	}
	env.stop()
	env.start()
	check("after a restart")
}
