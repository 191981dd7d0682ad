package detect

// keySet numbers distinct keys in the order added, for a window's or a
// device's scratch: a linear search while it holds few (most windows and
// devices have a handful of destinations), a map past linearKeys — where
// a map per window and device cost its hashing and its clearing.
type keySet[K comparable] struct {
	keys  []K
	m     map[K]int32 // index in keys, once keys outgrew a linear search
	spare map[K]int32 // a map cleared by reset, for the next time
}

// linearKeys is the most keys searched linearly.
const linearKeys = 16

// index returns k's index in the set, adding it (added) if it is new.
func (s *keySet[K]) index(k K) (i int32, added bool) {
	if s.m == nil {
		for j, x := range s.keys {
			if x == k {
				return int32(j), false
			}
		}
		s.keys = append(s.keys, k)
		if len(s.keys) > linearKeys {
			s.m = s.spare
			s.spare = nil
			if s.m == nil {
				s.m = make(map[K]int32, 2*len(s.keys))
			}
			for j, x := range s.keys {
				s.m[x] = int32(j)
			}
		}
		return int32(len(s.keys) - 1), true
	}
	if j, ok := s.m[k]; ok {
		return j, false
	}
	j := int32(len(s.keys))
	s.keys = append(s.keys, k)
	s.m[k] = j
	return j, true
}

// len is the number of keys.
func (s *keySet[K]) len() int { return len(s.keys) }

// reset empties the set, forgetting its keys (strings may alias a
// window's buffers). A map that grew large is dropped rather than cleared
// (clearing costs what it once held; see Scan.reset).
func (s *keySet[K]) reset() {
	clear(s.keys)
	s.keys = s.keys[:0]
	if m := s.m; m != nil {
		s.m = nil
		if len(m) <= 8*linearKeys {
			clear(m)
			s.spare = m
		}
	}
}
