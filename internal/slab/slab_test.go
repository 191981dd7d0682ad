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

func TestTake(t *testing.T) {
	var s []int
	a := Take(&s, 3, 5)
	if len(a) != 3 || cap(a) != 3 || len(s) != 2 {
		t.Fatalf("first take: %d values (cap %d), %d left", len(a), cap(a), len(s))
	}
	for i := range a {
		a[i] = i + 1
	}
	if a2 := append(a, 9); &a2[0] == &a[0] || s[0] != 0 { // goes elsewhere: the values after a are not written
		t.Fatalf("an append to a take wrote the next value: %d", s[0])
	}
	b := Take(&s, 2, 5) // the rest of the chunk
	if len(b) != 2 || cap(b) != 2 || len(s) != 0 || b[0] != 0 || b[1] != 0 {
		t.Fatalf("second take: %v (cap %d), %d left", b, cap(b), len(s))
	}
	c := Take(&s, 7, 5) // more than a chunk: a chunk of its own
	if len(c) != 7 || cap(c) != 7 || len(s) != 0 {
		t.Fatalf("large take: %d values (cap %d), %d left", len(c), cap(c), len(s))
	}
	d := Take(&s, 1, 5) // a new chunk
	if len(d) != 1 || d[0] != 0 || len(s) != 4 {
		t.Fatalf("after a refill: %v, %d left", d, len(s))
	}
	if z := Take(&s, 0, 5); len(z) != 0 || len(s) != 4 {
		t.Fatalf("a take of none: %v, %d left", z, len(s))
	}
	if a[0] != 1 || a[1] != 2 || a[2] != 3 {
		t.Fatalf("later takes changed the first: %v", a)
	}
}
