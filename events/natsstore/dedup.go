package natsstore

import "github.com/halo-sec/halo/events"

// recentIDs remembers about the last n ids seen, in two generations: when the
// current one is full it becomes the previous one and the old previous one is
// forgotten. Memory stays below n ids; an id is remembered for at least n/2
// later ids.
type recentIDs struct {
	half      int
	cur, prev map[events.ID]struct{}
}

func newRecentIDs(n int) *recentIDs {
	half := max(n/2, 1)
	return &recentIDs{half: half, cur: make(map[events.ID]struct{}, min(half, 1<<16))}
}

// seen reports whether id was seen before and remembers it.
func (r *recentIDs) seen(id events.ID) bool {
	if _, ok := r.cur[id]; ok {
		return true
	}
	if _, ok := r.prev[id]; ok {
		return true
	}
	if len(r.cur) >= r.half {
		r.prev = r.cur
		r.cur = make(map[events.ID]struct{}, min(r.half, 1<<16))
	}
	r.cur[id] = struct{}{}
	return false
}
