// Package slab hands out values of a type from chunks allocated many at a
// time: one allocation per chunk instead of one per value, for the small
// structs hot paths make by the thousand (findings, slimmed alert
// payloads). A chunk stays alive as long as any of its values does, so it
// suits values that live about as long as one another.
package slab

// Next returns a zero T cut from *s, first refilling *s with chunk new
// values when it is empty.
func Next[T any](s *[]T, chunk int) *T {
	if len(*s) == 0 {
		*s = make([]T, chunk)
	}
	p := &(*s)[0]
	*s = (*s)[1:]
	return p
}

// Take returns n zero values cut from *s, capped at n (an append to them
// goes elsewhere), first refilling *s with max(n, chunk) new values when
// fewer than n are left (the rest of the old chunk is dropped).
func Take[T any](s *[]T, n, chunk int) []T {
	if len(*s) < n {
		*s = make([]T, max(n, chunk))
	}
	v := (*s)[:n:n]
	*s = (*s)[n:]
	return v
}
