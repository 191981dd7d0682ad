package slab

import "testing"

func TestNext(t *testing.T) {
	var s []struct{ a, b int }
	first := Next(&s, 3)
	first.a = 1
	second := Next(&s, 3)
	if second.a != 0 || second == first {
		t.Fatalf("second value %+v at %p, first at %p", *second, second, first)
	}
	if len(s) != 1 {
		t.Fatalf("%d values left of a chunk of 3 after two", len(s))
	}
	Next(&s, 3)
	fourth := Next(&s, 3) // a new chunk
	if len(s) != 2 || fourth.a != 0 {
		t.Fatalf("after a refill: %d left, fourth %+v", len(s), *fourth)
	}
	if first.a != 1 {
		t.Fatal("a refill changed a value handed out")
	}
}
