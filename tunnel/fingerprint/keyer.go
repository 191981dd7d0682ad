package fingerprint

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
)

// KeySize is the length of a tenant's fingerprint secret: 32 bytes.
const KeySize = 32

// FingerprintSize is the length of a strict or loose fingerprint: the first
// 16 bytes of an HMAC-SHA256.
const FingerprintSize = 16

// Domain-separation tags: the strict, oversize and loose keys of one tenant
// can never collide with each other, and a future v2 encoding gets new tags.
const (
	tagStrict   = "halo/tx/strict/v1"
	tagOversize = "halo/tx/strict-oversize/v1"
	tagLoose    = "halo/tx/loose/v1"
)

// A Keyer computes one tenant's transaction fingerprints: HMAC-SHA256 keyed
// with the tenant's secret, truncated to 16 bytes, over a length-prefixed
// encoding of the request's parts. Without the secret a fingerprint cannot be
// recomputed, so no one holding an event can test guesses of a card number
// against it, and fingerprints of different tenants are unrelated.
//
// A Keyer is safe for concurrent use and does not allocate per call (it
// keeps a pool of keyed hashes). It never prints its secret: String,
// GoString, Format and LogValue all give "fingerprint.Keyer(redacted)". The
// zero Keyer is not usable; its methods panic. Create one with NewKeyer.
type Keyer struct {
	pool sync.Pool
	ok   bool
}

// hasher is one pooled keyed hash with scratch space.
type hasher struct {
	mac hash.Hash
	buf [128]byte
	sum [sha256.Size]byte
}

// NewKeyer returns a Keyer for secret, which must be KeySize random bytes
// (ErrKeySize otherwise). The secret is copied.
func NewKeyer(secret []byte) (*Keyer, error) {
	if len(secret) != KeySize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrKeySize, len(secret))
	}
	key := make([]byte, KeySize)
	copy(key, secret)
	k := &Keyer{ok: true}
	k.pool.New = func() any { return &hasher{mac: hmac.New(sha256.New, key)} }
	return k, nil
}

const redacted = "fingerprint.Keyer(redacted)"

// String returns a fixed text: the secret is never printed.
func (k *Keyer) String() string { return redacted }

// GoString returns a fixed text: the secret is never printed.
func (k *Keyer) GoString() string { return redacted }

// Format prints a fixed text for every verb: the secret is never printed.
func (k *Keyer) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue returns a fixed text: the secret is never logged.
func (k *Keyer) LogValue() slog.Value { return slog.StringValue(redacted) }

func (k *Keyer) get() *hasher {
	if k == nil || !k.ok {
		panic("fingerprint: Keyer not created by NewKeyer")
	}
	h := k.pool.Get().(*hasher)
	h.mac.Reset()
	return h
}

func (k *Keyer) put(h *hasher) [FingerprintSize]byte {
	var fp [FingerprintSize]byte
	copy(fp[:], h.mac.Sum(h.sum[:0]))
	k.pool.Put(h)
	return fp
}

// Strict returns the strict fingerprint of a transaction: it identifies one
// request exactly, so a replay of it has the same strict fingerprint. It
// covers, each length-prefixed, the method (upper-cased), the host
// (normalized as by NormalizeHost), the path exactly as given including the
// query, and canon, the canonical body from Canonical (or the raw body).
func (k *Keyer) Strict(method, host, path string, canon []byte) [FingerprintSize]byte {
	h := k.get()
	h.writeString(tagStrict, caseKeep)
	h.field(method, caseUpper)
	h.field(NormalizeHost(host), caseLower)
	h.field(path, caseKeep)
	h.length(len(canon))
	h.mac.Write(canon)
	return k.put(h)
}

// StrictOversize returns the strict fingerprint of a request whose body was
// over the fingerprinting limit: method, host and path only, under its own
// domain tag, so it never equals the fingerprint of a request with an empty
// body. Different oversize requests to one URL share it: it must not be used
// to refuse replays.
func (k *Keyer) StrictOversize(method, host, path string) [FingerprintSize]byte {
	h := k.get()
	h.writeString(tagOversize, caseKeep)
	h.field(method, caseUpper)
	h.field(NormalizeHost(host), caseLower)
	h.field(path, caseKeep)
	return k.put(h)
}

// Loose returns the loose fingerprint of a transaction: it groups likely
// duplicates of one payment. It covers the host (normalized), the path
// without its query or fragment, and the four LooseFields (each with a
// presence marker), and nothing else: a resent payment with a fresh nonce or
// timestamp has the same loose fingerprint but a different strict one. A
// body that names none of the fields gets a loose fingerprint of host and
// path only, shared by every such request to that URL.
func (k *Keyer) Loose(host, path string, f LooseFields) [FingerprintSize]byte {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	h := k.get()
	h.writeString(tagLoose, caseKeep)
	h.field(NormalizeHost(host), caseLower)
	h.field(path, caseKeep)
	h.optional(f.Amount)
	h.optional(f.Currency)
	h.optional(f.Merchant)
	h.optional(f.Terminal)
	return k.put(h)
}

// NormalizeHost returns host as the fingerprints see it: without a default
// port (":80" or ":443"; the fingerprint carries no scheme) and without a
// trailing dot. Upper-case letters are folded by the fingerprints themselves
// (NormalizeHost does not allocate, so it does not fold them).
func NormalizeHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		port, name := host[i+1:], host[:i]
		if (port == "80" || port == "443") && (strings.IndexByte(name, ':') < 0 || strings.HasSuffix(name, "]")) {
			host = name
		}
	}
	return strings.TrimSuffix(host, ".")
}

type caseMode uint8

const (
	caseKeep caseMode = iota
	caseUpper
	caseLower
)

func (h *hasher) length(n int) {
	binary.BigEndian.PutUint64(h.buf[:8], uint64(n))
	h.mac.Write(h.buf[:8])
}

func (h *hasher) field(s string, mode caseMode) {
	h.length(len(s))
	h.writeString(s, mode)
}

func (h *hasher) optional(s string) {
	if s == "" {
		h.buf[0] = 0
		h.mac.Write(h.buf[:1])
		return
	}
	h.buf[0] = 1
	h.mac.Write(h.buf[:1])
	h.field(s, caseKeep)
}

// writeString hashes s through h.buf, folding ASCII case as asked, without
// converting s to a []byte.
func (h *hasher) writeString(s string, mode caseMode) {
	for len(s) > 0 {
		n := copy(h.buf[:], s)
		b := h.buf[:n]
		switch mode {
		case caseUpper:
			for i, c := range b {
				if 'a' <= c && c <= 'z' {
					b[i] = c - 'a' + 'A'
				}
			}
		case caseLower:
			for i, c := range b {
				if 'A' <= c && c <= 'Z' {
					b[i] = c - 'A' + 'a'
				}
			}
		}
		h.mac.Write(b)
		s = s[n:]
	}
}
