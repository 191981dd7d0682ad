package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// CodeRateLimited is the error code of a 429: the token sent more requests
// than its rate limit allows; retry after the Retry-After header's seconds.
const CodeRateLimited = "rate_limited"

// tokenLimiter is a token bucket per authenticated token id. A bucket that
// has been idle long enough to be full again is forgotten (forgetting it
// loses nothing: a new bucket starts full), so memory is bounded by the
// tokens active within one refill period.
type tokenLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // a bucket unused this long is full, and dropped

	mu        sync.Mutex
	buckets   map[string]*tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newTokenLimiter returns a limiter of perSecond requests a second with
// bursts of burst, or nil (no limit) when perSecond is negative.
func newTokenLimiter(perSecond float64, burst int) *tokenLimiter {
	if perSecond < 0 {
		return nil
	}
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &tokenLimiter{limit: rate.Limit(perSecond), burst: burst, idle: refill + time.Second,
		buckets: map[string]*tokenBucket{}}
}

// allow takes one request from id's bucket at now; when the bucket is
// empty it returns false and how long until a request would be allowed.
func (l *tokenLimiter) allow(id string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.last) >= l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[id]
	if !ok {
		b = &tokenBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[id] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// size is how many buckets are held.
func (l *tokenLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// rateLimit checks p's token against the limit; over it, it sets
// Retry-After on w and returns a 429.
func (s *Server) rateLimit(w http.ResponseWriter, p principal) *Error {
	if s.limiter == nil || p.tokenID == "" {
		return nil
	}
	ok, wait := s.limiter.allow(p.tokenID, time.Now())
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errorf(http.StatusTooManyRequests, CodeRateLimited,
		"rate limit of %g requests/s (bursts of %d) exceeded for token %s; retry in %d s", float64(s.limiter.limit), s.limiter.burst, p.tokenID, secs)
}
