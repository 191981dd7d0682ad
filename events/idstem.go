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
	// The memory of saved and buf, in the stem's allocation.
	savedMem [128]byte
	bufMem   [128]byte
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
