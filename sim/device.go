package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Models and firmware versions of the simulated fleet: devices of one
// (model, firmware) pair form a cohort.
var fleetModels = []struct{ model, firmware string }{
	{"P2", "1.4.2"}, {"A920", "7.8.1"}, {"P2", "1.5.0"}, {"V400m", "3.2.0"},
}

var merchantCurrencies = []string{"EUR", "EUR", "EUR", "GBP", "USD"}

// Benign activity at rate 1; --rate divides every interval.
const (
	heartbeatEvery = 10 * time.Second // mean; uniform ±50%
	paymentEvery   = 90 * time.Second // mean at the busiest hour; exponential
	updateEvery    = 4 * time.Minute  // mean; uniform ±50%
	downloadShare  = 0.15             // of update checks that download a package
	paymentRetries = 2
)

// payment is the body a terminal sends to the gateway.
type payment struct {
	Merchant  string `json:"merchant"`
	Terminal  string `json:"terminal"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Nonce     string `json:"nonce"`
	Timestamp string `json:"timestamp"`
}

// device is one simulated terminal.
type device struct {
	s        *Sim
	idx      int
	id       string
	model    string
	firmware string
	cohort   int
	merchant string
	currency string
	cert     tls.Certificate
	oldCert  *tls.Certificate // revoked: the badcert attack presents it
	client   *http.Client     // plain HTTP, kept alive
	tlsCl    *http.Client     // TLS destinations through CONNECT
	rng      *mrand.Rand      // the device's loop only

	mu    sync.Mutex
	paid  [][]byte // recent approved payment bodies
	seq   int
	adopt atomic.Bool
	kick  chan struct{}
	up    atomic.Bool
}

// transport is the device's client through the edge. keepAlive keeps the
// connection for the next request (the device's one persistent connection
// for plain HTTP); TLS destinations (CONNECT) are rare and get a tunnel
// each, closed after use.
func (d *device) transport(keepAlive bool) *http.Transport {
	proxy := &url.URL{Scheme: "https", Host: d.s.cfg.Edge}
	return &http.Transport{
		DisableKeepAlives: !keepAlive,
		Proxy:             http.ProxyURL(proxy),
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{d.cert},
			RootCAs:      d.s.pool,
			MinVersion:   tls.VersionTLS12,
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// run is the device's benign life until ctx ends.
func (d *device) run(ctx context.Context) {
	defer d.client.CloseIdleConnections()
	rate := d.s.cfg.Rate
	jitter := func(mean time.Duration) time.Duration {
		return time.Duration(float64(mean) / rate * (0.5 + d.rng.Float64()))
	}
	// Devices boot over the first heartbeat period, not all at once.
	if !waitCtx(ctx, time.Duration(d.rng.Float64()*float64(heartbeatEvery)/rate)) {
		return
	}
	d.heartbeat(ctx)
	d.updateCheck(ctx)
	now := time.Now()
	nextHB := now.Add(jitter(heartbeatEvery))
	nextPay := now.Add(d.payInterval(now))
	nextUpd := now.Add(jitter(updateEvery))
	for {
		next := nextHB
		if nextPay.Before(next) {
			next = nextPay
		}
		if nextUpd.Before(next) {
			next = nextUpd
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.kick:
			t.Stop()
			d.updateCheck(ctx)
			continue
		case <-t.C:
		}
		now := time.Now()
		switch {
		case !nextHB.After(now):
			d.heartbeat(ctx)
			nextHB = now.Add(jitter(heartbeatEvery))
		case !nextPay.After(now):
			d.pay(ctx)
			nextPay = time.Now().Add(d.payInterval(time.Now()))
		default:
			d.updateCheck(ctx)
			nextUpd = now.Add(jitter(updateEvery))
		}
	}
}

// payInterval draws the time to the next payment: exponential, slower
// outside business hours (UTC).
func (d *device) payInterval(now time.Time) time.Duration {
	h := float64(now.UTC().Hour()) + float64(now.UTC().Minute())/60
	busy := 0.25
	if h > 7 && h < 21 {
		busy += 0.75 * math.Sin(math.Pi*(h-7)/14)
	}
	mean := float64(paymentEvery) / d.s.cfg.Rate / busy
	return time.Duration(d.rng.ExpFloat64() * mean)
}

// do sends one request through the edge and reads the answer. plain marks
// an absolute-form HTTP request (one tx.observed at the edge).
func (d *device) do(ctx context.Context, req *http.Request, plain bool, timeout time.Duration) (status int, haloErr string, body []byte, err error) {
	return d.doWith(ctx, d.client, req, plain, timeout)
}

func (d *device) doWith(ctx context.Context, client *http.Client, req *http.Request, plain bool, timeout time.Duration) (status int, haloErr string, body []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st := &d.s.stats
	st.requests.Add(1)
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
			st.errors.Add(1)
		}
		return 0, "", nil, err
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if err != nil {
		st.errors.Add(1)
		return 0, "", nil, err
	}
	haloErr = resp.Header.Get("Halo-Error")
	if haloErr != "" {
		st.refuse(haloErr)
	} else {
		st.answered.Add(1)
		if d.up.CompareAndSwap(false, true) {
			st.devicesUp.Add(1)
		}
	}
	if plain {
		st.plainAnswered.Add(1)
		if haloErr == "" && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			st.plain2xx.Add(1)
		}
	}
	return resp.StatusCode, haloErr, body, nil
}

func (d *device) heartbeat(ctx context.Context) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"device": d.id, "seq": seq, "model": d.model, "firmware": d.firmware,
		"battery": 40 + d.rng.IntN(60), "time": time.Now().UTC().Format(time.RFC3339Nano)})
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.s.dst.host("mgmt", d.s.dst.mgmtPort)+"/v1/heartbeat", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	d.do(ctx, req, true, 10*time.Second)
}

// newPayment makes a fresh payment body, drawing from rng (the device's
// own in its loop: a rand.Rand is not safe for concurrent use).
func (d *device) newPayment(rng *mrand.Rand) []byte {
	// Amounts spread widely: two genuine payments of one terminal with the
	// same amount within minutes are what the replay detector's loose
	// fingerprint reports as possible duplicates (loose_horizon).
	cents := 100 + rng.IntN(40000)
	var nonce [12]byte
	rand.Read(nonce[:])
	b, _ := json.Marshal(payment{
		Merchant: d.merchant, Terminal: d.id, Amount: fmt.Sprintf("%d.%02d", cents/100, cents%100), Currency: d.currency,
		Nonce: hex.EncodeToString(nonce[:]), Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
	})
	return b
}

// pay sends a new payment, retrying the same body after a 5xx or a
// timeout (a legitimate retry: nothing succeeded).
func (d *device) pay(ctx context.Context) {
	d.s.stats.payments.Add(1)
	d.send(ctx, d.newPayment(d.rng), paymentRetries)
}

// send posts a payment body; it returns the final status and edge error.
func (d *device) send(ctx context.Context, body []byte, retries int) (int, string) {
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.s.dst.host("pay", d.s.dst.gatewayPort)+"/v1/payments", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		status, haloErr, _, err := d.do(ctx, req, true, paymentTimeout)
		if err == nil && haloErr == "" && status >= 200 && status <= 299 {
			d.s.stats.approved.Add(1)
			d.mu.Lock()
			d.paid = append(d.paid, body)
			if len(d.paid) > 4 {
				d.paid = d.paid[1:]
			}
			d.mu.Unlock()
			return status, ""
		}
		if err == nil && haloErr == "already_succeeded" {
			// The edge says an earlier attempt was charged but its answer
			// never arrived: the payment is done, as a real terminal
			// would conclude.
			d.s.stats.approved.Add(1)
			return status, haloErr
		}
		retryable := haloErr == "" && (err != nil || status >= 500)
		if !retryable || attempt >= retries || ctx.Err() != nil {
			return status, haloErr
		}
		d.s.stats.retries.Add(1)
		if !waitCtx(ctx, time.Second+time.Duration(d.rng.Float64()*float64(time.Second))) {
			return status, haloErr
		}
	}
}

// updateCheck asks the update server (TLS, through CONNECT) and sometimes
// downloads a package; devices of a cohort that adopted the new asset host
// fetch from it too.
func (d *device) updateCheck(ctx context.Context) {
	get := func(host, path string, timeout time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+d.s.dst.host(host, d.s.dst.updatesPort)+path, nil)
		d.doWith(ctx, d.tlsCl, req, false, timeout)
	}
	get("updates", "/v1/check?model="+d.model+"&firmware="+d.firmware, 10*time.Second)
	if d.rng.Float64() < downloadShare {
		size := 100<<10 + d.rng.IntN(900<<10)
		get("updates", "/v1/packages/app-4.2.1.apk?size="+strconv.Itoa(size), 60*time.Second)
	}
	if d.adopt.Load() {
		get("assets-v2", "/v1/check?model="+d.model, 10*time.Second)
	}
}

// lastPaid returns a recent approved payment body, if any.
func (d *device) lastPaid() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.paid) == 0 {
		return nil
	}
	return d.paid[len(d.paid)-1]
}
