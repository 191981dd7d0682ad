package tunnel

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// A device that goes away in the middle of a response (a terminal that
// timed out) still gets its request recorded: tx.observed with the
// destination's status, and conn.closed with reason client. The reverse
// proxy aborts such a request with a panic that used to skip conn.closed.
func TestDeviceGoneMidResponseIsRecorded(t *testing.T) {
	env := newEnv(t, nil)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	defer up.Close()
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
