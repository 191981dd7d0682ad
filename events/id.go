package events

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ID is an event identifier: a 16-byte UUID.
type ID [16]byte

// idNamespace is the UUID namespace of derived ids.
var idNamespace = uuid.MustParse("6f1d3c52-7a0e-4b8e-9d51-0c7a4e2b9f10")

// NewID returns a time-ordered UUIDv7: ids of live events sort by creation
// time, which keeps JetStream's de-duplication and readers' tie-breaks cheap.
func NewID() ID {
	u, err := uuid.NewV7()
	if err != nil {
		// crypto/rand failing is not recoverable in any useful way.
		panic(fmt.Sprintf("events: generating a UUIDv7: %v", err))
	}
	return ID(u)
}

// DerivedID returns a name-based UUID (version 5) of source and parts, for
// events that must come out identical when produced twice: an imported log
// line (source = file digest, part = line number), an alert (detector, key,
// window), a replayed output. Parts are length-prefixed, so ("ab","c") and
// ("a","bc") differ.
func DerivedID(source string, parts ...string) ID {
	n := len(source) + 4
	for _, p := range parts {
		n += len(p) + 4
	}
	// uuid.NewSHA1(idNamespace, b), without its hasher and sum allocations:
	// the namespace and the parts hashed at once from one buffer (on the
	// stack when small). TestDerivedIDIsUUIDv5 checks they agree.
	var stack [256]byte
	b := stack[:0]
	if 16+n > len(stack) {
		b = make([]byte, 0, 16+n)
	}
	b = append(b, idNamespace[:]...)
	b = appendLP(b, source)
	for _, p := range parts {
		b = appendLP(b, p)
	}
	sum := sha1.Sum(b)
	return idOfSum(sum[:])
}

// idOfSum is the version 5 UUID of a SHA-1 sum.
func idOfSum(sum []byte) ID {
	var id ID
	copy(id[:], sum[:16])
	id[6] = id[6]&0x0f | 5<<4 // version 5
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

func appendLP(b []byte, s string) []byte {
	l := uint32(len(s))
	b = append(b, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	return append(b, s...)
}

// ParseID parses the canonical 36-character form (or 32 hex digits).
func ParseID(s string) (ID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return ID{}, fmt.Errorf("parsing event id %q: %w", s, err)
	}
	return ID(u), nil
}

// IsZero reports whether id is the zero id (never valid for an event).
func (id ID) IsZero() bool { return id == ID{} }

// String returns the canonical UUID form.
func (id ID) String() string {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return string(buf[:])
}

// Time returns the creation time embedded in a UUIDv7, or the zero time for
// other versions.
func (id ID) Time() time.Time {
	if id[6]>>4 != 7 {
		return time.Time{}
	}
	ms := int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 | int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5])
	return time.UnixMilli(ms).UTC()
}

// Compare orders ids bytewise; with event time it gives the total order
// (event time, event id) that deterministic outputs rely on.
func (id ID) Compare(o ID) int {
	for i := range id {
		if id[i] != o[i] {
			if id[i] < o[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
