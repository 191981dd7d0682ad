package agent

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// serve carries one local connection, or answers it when it cannot be
// carried.
func (a *Agent) serve(local net.Conn) {
	if r := a.refused(); r != nil {
		a.m.edgeRefusals.Add(1)
		a.answer(local, http.StatusForbidden, r.body())
		return
	}
	ec := a.takeWarm()
	if ec != nil {
		a.m.warmHits.Add(1)
	} else {
		var err error
		if ec, err = a.dial(a.connCtx); err != nil {
			if a.connCtx.Err() != nil {
				a.answer(local, http.StatusServiceUnavailable, jsonError("agent_shutting_down", "the Halo agent is shutting down"))
				return
			}
			a.linkDown(err)
			a.m.unreachable.Add(1)
			a.answer(local, http.StatusBadGateway, jsonError(dialErrorCode(err),
				fmt.Sprintf("the Halo edge cannot be reached: %v; the agent keeps retrying in the background", err)))
			return
		}
		a.linkReachable()
	}
	a.wakeMaintainer() // refill the pool
	a.carry(local, ec)
}

// dialErrorCode tells a network failure from a TLS one: an edge whose
// certificate does not verify against the CA file (or names another host),
// or an edge that ended the handshake with an alert.
func dialErrorCode(err error) string {
	var cve *tls.CertificateVerificationError
	var oe *net.OpError
	if errors.As(err, &cve) || errors.As(err, &oe) && oe.Op == "remote error" {
		return "edge_tls_error"
	}
	return "edge_unreachable"
}

// maxReplay bounds what the agent keeps of a connection's first request to
// send it again on a new edge connection.
const maxReplay = 64 << 10

// errAnsweredLocally ends the edge-to-app side after the agent answered the
// app itself.
var errAnsweredLocally = errors.New("answered by the agent")

// carried is a local connection carried over an edge connection.
//
// Until the edge sends its first byte, the agent keeps a copy of what the
// app sent (up to maxReplay). The app sees a new connection, so it will not
// retry if that connection fails; but the edge connection may be a warm one
// the edge drops just then (an edge shutting down drops a request on a
// connection that has not started one; an edge closes a connection that
// waited too long for its first request). If the edge closes before
// answering, an idempotent first request (GET, HEAD, OPTIONS, TRACE,
// CONNECT, or one with an Idempotency-Key) is sent once more on a new
// connection; any other gets a 502 saying so, never an empty reply.
type carried struct {
	a       *Agent
	local   net.Conn
	edge    atomic.Pointer[edgeConn]
	last    atomic.Int64 // unix nanos of the last byte either way
	cutDone atomic.Bool

	mu       sync.Mutex
	answered bool   // the edge sent a byte, or the agent answered the app
	discard  bool   // the agent answered the app: drop what it still sends
	replay   []byte // what the app sent before any answer
	replayOK bool   // replay holds all of it
	upEOF    bool   // the app closed its side
	retried  bool
	lost     error // why the retry failed
}

func (c *carried) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *carried) cut() {
	c.cutDone.Store(true)
	c.local.Close()
	c.edge.Load().Close()
}

// carry copies bytes both ways until both directions have ended. A clean end
// of one direction is passed on as a half-close (close_notify towards the
// edge, FIN towards the app); an error ends both; IdleTimeout ends a
// connection with no bytes either way.
func (a *Agent) carry(local net.Conn, ec *edgeConn) {
	a.m.carried.Add(1)
	c := &carried{a: a, local: local, replayOK: true}
	c.edge.Store(ec)
	if !a.track(c) {
		c.cut()
		return
	}
	defer a.untrack(c)
	c.touch()
	var idle *time.Timer
	idle = time.AfterFunc(a.cfg.IdleTimeout, func() {
		if d := time.Since(time.Unix(0, c.last.Load())); d < a.cfg.IdleTimeout {
			idle.Reset(a.cfg.IdleTimeout - d)
			return
		}
		a.logger.Debug("idle connection closed", "idle_timeout", a.cfg.IdleTimeout)
		c.cut()
	})
	defer idle.Stop()

	downDone := make(chan struct{})
	go func() {
		defer close(downDone)
		switch err := c.down(); {
		case errors.Is(err, errAnsweredLocally):
			// Let the app's remaining bytes drain briefly so closing does
			// not reset the connection under the answer.
			local.SetReadDeadline(time.Now().Add(time.Second))
		case err != nil:
			c.cut()
		default:
			closeWrite(local)
		}
	}()
	if err := c.up(); err != nil {
		c.cut()
	}
	<-downDone
	c.cut()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		c.Close()
	}
}

// up copies the app's bytes to the edge.
func (c *carried) up() error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		nr, er := c.local.Read(buf)
		if nr > 0 {
			c.a.m.bytesUp.Add(uint64(nr))
			c.touch()
			if ew := c.send(buf[:nr]); ew != nil {
				return ew
			}
		}
		if er != nil {
			if er != io.EOF {
				return er
			}
			c.mu.Lock()
			c.upEOF = true
			discard := c.discard
			c.mu.Unlock()
			if !discard {
				c.edge.Load().CloseWrite()
			}
			return nil
		}
	}
}

// send writes the app's bytes to the edge, keeping a copy until the edge
// answers. While a copy is kept the lock is held across the write, so a
// retry cannot come between the copy and the write; the copy is bounded by
// maxReplay, so that write cannot block for long.
func (c *carried) send(p []byte) error {
	c.mu.Lock()
	discard, answered := c.discard, c.answered
	keep := !answered && c.replayOK
	if keep && len(c.replay)+len(p) > maxReplay {
		c.replayOK, c.replay, keep = false, nil, false
	}
	if keep {
		c.replay = append(c.replay, p...)
	} else {
		c.mu.Unlock() // the edge connection can no longer change
	}
	if discard {
		return nil
	}
	_, err := c.edge.Load().Write(p)
	if keep {
		c.mu.Unlock()
	}
	if !answered {
		// The edge-to-app side sees the connection end and decides: send
		// again, or answer the app.
		return nil
	}
	return err
}

// down copies the edge's bytes to the app.
func (c *carried) down() error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	first := true
	for {
		nr, er := c.edge.Load().Read(buf)
		if nr > 0 {
			if first {
				first = false
				c.mu.Lock()
				c.answered, c.replay = true, nil
				c.mu.Unlock()
				// The edge refuses a certificate as the first thing it sends.
				if reason, ok := edgeRefusal(buf[:nr]); ok {
					c.a.m.edgeRefusals.Add(1)
					c.a.linkRefused(reason)
				} else if c.a.linkIs(linkRefused) {
					c.a.linkUp() // accepted again
				}
			}
			nw, ew := c.local.Write(buf[:nr])
			c.a.m.bytesDown.Add(uint64(nw))
			c.touch()
			if ew != nil {
				return ew
			}
		}
		if er != nil {
			if first && !c.cutDone.Load() {
				if c.retry() {
					continue
				}
				if ok, err := c.answerLost(); ok {
					return err
				}
			}
			if er == io.EOF {
				return nil
			}
			return er
		}
	}
}

// retry sends the first request again on a new edge connection, once, when
// the edge closed before answering and the request may be repeated.
func (c *carried) retry() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retried || c.upEOF || !c.replayOK || !replayable(c.replay) || c.a.connCtx.Err() != nil {
		return false
	}
	c.retried = true
	c.edge.Load().Close()
	ec, err := c.a.dial(c.a.connCtx)
	if err != nil {
		c.a.linkDown(err)
		c.lost = err
		return false
	}
	if len(c.replay) > 0 {
		if _, err := ec.Write(c.replay); err != nil {
			ec.Close()
			c.lost = err
			return false
		}
	}
	c.edge.Store(ec)
	if c.cutDone.Load() {
		ec.Close()
	}
	c.a.linkReachable()
	c.a.m.retried.Add(1)
	c.a.logger.Debug("the edge closed a connection before answering; first request sent again on a new one")
	return true
}

// answerLost answers the app itself when the edge closed before answering
// and the request was not sent again. False when the app has gone.
func (c *carried) answerLost() (bool, error) {
	c.mu.Lock()
	if c.upEOF {
		c.mu.Unlock()
		return false, nil
	}
	c.answered, c.discard, c.replay = true, true, nil
	lost := c.lost
	c.mu.Unlock()
	var body []byte
	if lost != nil {
		c.a.m.unreachable.Add(1)
		body = jsonError(dialErrorCode(lost), fmt.Sprintf("the Halo edge closed the connection before answering and cannot be reached again: %v", lost))
	} else {
		c.a.m.edgeClosed.Add(1)
		body = jsonError("edge_closed", "the Halo edge closed the connection before answering (it may be restarting); "+
			"the request may or may not have reached it, so the agent did not send it again")
	}
	c.local.SetWriteDeadline(time.Now().Add(2 * time.Second))
	writeAnswer(c.local, http.StatusBadGateway, body)
	closeWrite(c.local)
	return true, errAnsweredLocally
}

// replayable reports whether a first request may be sent twice: an
// idempotent method (as net/http's Transport decides for a reused
// connection), CONNECT (no byte went through yet), or an Idempotency-Key.
func replayable(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return false
	}
	switch string(b[:sp]) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "CONNECT":
		return true
	}
	head := b
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		head = b[:i]
	}
	head = bytes.ToLower(head)
	return bytes.Contains(head, []byte("\nidempotency-key:")) || bytes.Contains(head, []byte("\nx-idempotency-key:"))
}

func jsonError(code, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": code, "message": msg})
	return append(b, '\n')
}

// answer replies to a local client that cannot be carried and closes. It
// reads the request head first, and drains a little after answering:
// closing a socket with unread data resets it, and the client could lose
// the answer.
func (a *Agent) answer(c net.Conn, status int, body []byte) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	readHead(c)
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if writeAnswer(c, status, body) != nil {
		return
	}
	closeWrite(c)
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c, 256<<10))
}

func writeAnswer(c net.Conn, status int, body []byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		status, http.StatusText(status), len(body))
	b.Write(body)
	_, err := c.Write(b.Bytes())
	return err
}

// readHead reads up to the end of a request head (or 16 KiB, or the read
// deadline).
func readHead(c net.Conn) {
	var buf [2048]byte
	var tail []byte
	for total := 0; total < 16<<10; {
		n, err := c.Read(buf[:])
		total += n
		tail = append(tail, buf[:n]...)
		if bytes.Contains(tail, []byte("\r\n\r\n")) || err != nil {
			return
		}
		if len(tail) > 3 {
			tail = tail[len(tail)-3:]
		}
	}
}
