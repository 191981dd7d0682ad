package events

import (
	"crypto/sha1"
	"encoding"
	"fmt"
	"hash"
)

// IDStem derives the ids that DerivedID gives a source and leading parts
// followed by more parts, hashing the SHA-1 blocks the stem fills once:
//
//	NewIDStem(source, parts...).ID(more...) == DerivedID(source, parts..., more...)
//
// An alert's updates are its id's alert.updated ids with their counts: some
// 80 bytes hashed each, the first 64 (one SHA-1 block: the namespace,
// "alert.updated" and most of the alert's id) the same for every update.
// The stem keeps the hash's state after those blocks and restores it for
// every id (crypto/sha1's digest marshals and unmarshals its state), so an
// id costs the blocks of what follows them only. TestIDStemMatchesDerivedID
// and FuzzIDStem check it against DerivedID.
//
// An IDStem is not safe for concurrent use.
type IDStem struct {
	d     hash.Hash                  // SHA-1, restored to saved for every id
	u     encoding.BinaryUnmarshaler // d
	saved []byte                     // d's state after the stem's whole blocks
	// buf holds the stem's bytes after its whole blocks, then an id's
	// parts (a stack buffer would escape: d is an interface).
	buf  []byte
	tail int // the stem's bytes in buf
	sum  [sha1.Size]byte
	// The memory of saved (crypto/sha1 marshals 96 bytes) and buf (an
	// update's id: the stem's last 12 bytes and the count), in the
	// stem's allocation; longer ones grow on the heap.
	savedMem [96]byte
	bufMem   [64]byte
}

// NewIDStem returns the stem of the ids DerivedID gives source, parts and
// more parts.
func NewIDStem(source string, parts ...string) *IDStem {
	n := 16 + len(source) + 4
	for _, p := range parts {
		n += len(p) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, idNamespace[:]...)
	b = appendLP(b, source)
	for _, p := range parts {
		b = appendLP(b, p)
	}
	whole := len(b) &^ (sha1.BlockSize - 1)
	d := sha1.New()
	d.Write(b[:whole])
	m, ok1 := d.(encoding.BinaryAppender)
	u, ok2 := d.(encoding.BinaryUnmarshaler)
	if !ok1 || !ok2 {
		panic(fmt.Sprintf("events: the SHA-1 hash %T does not marshal its state", d))
	}
	s := &IDStem{d: d, u: u}
	var err error
	if s.saved, err = m.AppendBinary(s.savedMem[:0]); err != nil {
		panic(fmt.Sprintf("events: marshaling a SHA-1 state: %v", err))
	}
	s.buf = append(s.bufMem[:0], b[whole:]...)
	s.tail = len(b) - whole
	return s
}

// ID returns DerivedID(source, parts..., more...) of the stem's source and
// parts.
func (s *IDStem) ID(more ...string) ID {
	if err := s.u.UnmarshalBinary(s.saved); err != nil {
		panic(fmt.Sprintf("events: restoring a SHA-1 state: %v", err)) // its own marshaling
	}
	b := s.buf[:s.tail]
	for _, p := range more {
		b = appendLP(b, p)
	}
	s.buf = b
	s.d.Write(b)
	return idOfSum(s.d.Sum(s.sum[:0]))
}

// IDHasher is DerivedID keeping the SHA-1 state after the first 64-byte
// block of the last id it derived, for runs of ids whose inputs start
// alike: an id whose first block is the last one's hashes from there. The
// Zeek replay's alert ids (the namespace, "alert", the detector, the
// tenant and the device's first bytes, then the key and the window) share
// their first block with the previous alert's nineteen times in twenty.
// TestIDHasherMatchesDerivedID and FuzzIDHasher check it against
// DerivedID.
//
// The zero IDHasher is ready to use; it is not safe for concurrent use.
type IDHasher struct {
	d     hash.Hash // SHA-1, nil until the first id of over a block
	u     encoding.BinaryUnmarshaler
	m     encoding.BinaryAppender
	first [sha1.BlockSize]byte // the last first block hashed
	saved []byte               // d's state after it
	buf   []byte
	sum   [sha1.Size]byte
}

// ID returns DerivedID(source, parts...).
func (h *IDHasher) ID(source string, parts ...string) ID {
	b := append(h.buf[:0], idNamespace[:]...)
	b = appendLP(b, source)
	for _, p := range parts {
		b = appendLP(b, p)
	}
	h.buf = b
	if len(b) <= sha1.BlockSize { // one block to hash in all
		sum := sha1.Sum(b)
		return idOfSum(sum[:])
	}
	switch {
	case h.d == nil:
		h.d = sha1.New()
		var ok1, ok2 bool
		h.u, ok1 = h.d.(encoding.BinaryUnmarshaler)
		h.m, ok2 = h.d.(encoding.BinaryAppender)
		if !ok1 || !ok2 {
			panic(fmt.Sprintf("events: the SHA-1 hash %T does not marshal its state", h.d))
		}
		fallthrough
	case h.saved == nil || [sha1.BlockSize]byte(b) != h.first:
		h.d.Reset()
		h.d.Write(b[:sha1.BlockSize])
		h.first = [sha1.BlockSize]byte(b)
		var err error
		if h.saved, err = h.m.AppendBinary(h.saved[:0]); err != nil {
			panic(fmt.Sprintf("events: marshaling a SHA-1 state: %v", err))
		}
	default:
		if err := h.u.UnmarshalBinary(h.saved); err != nil {
			panic(fmt.Sprintf("events: restoring a SHA-1 state: %v", err)) // its own marshaling
		}
	}
	h.d.Write(b[sha1.BlockSize:])
	return idOfSum(h.d.Sum(h.sum[:0]))
}
