package events

import (
	"crypto/sha1"
	"encoding"
	"fmt"
	"hash"
)

// IDHasher is DerivedID keeping the SHA-1 state after the first 64-byte
// block of the last id it derived, for runs of ids whose inputs start
// alike: an id whose first block is the last one's hashes from there. The
// Zeek replay's alert ids (the namespace, "alert", the detector, the
// tenant and the device's first bytes, then the key and the window) share
// their first block with the previous alert's nineteen times in twenty.
// An alert's updates are the same: their ids (the namespace,
// "alert.updated", the alert's id, then the count) share their first block,
// so the alerter keeps a hasher per alert. crypto/sha1's digest marshals
// and unmarshals its state, which is how the state is kept and restored.
// TestIDHasherMatchesDerivedID, TestIDHasherBlockEdges and FuzzIDHasher
// check it against DerivedID.
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
