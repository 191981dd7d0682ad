package pipeline

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"

	"github.com/halo-sec/halo/events"
)

// TestCohortUnenrolled: the cohort of a device not enrolled is its
// tenant's "tenant//", made once per run of one tenant and kept for the
// next calls, and the registry is asked once a device was enrolled;
// tenants alternating from several goroutines (the stages ask
// concurrently) each get their own (run with -race).
func TestCohortUnenrolled(t *testing.T) {
	p, err := NewProcessor(Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := p.cohort("zeek", "10.0.0.1"), p.cohort("zeek", "10.0.0.2")
	if a != "zeek//" || b != "zeek//" {
		t.Fatalf("cohorts %q and %q", a, b)
	}
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("the second cohort of a tenant made anew, not kept")
	}
	if c := p.cohort("lab", "10.0.0.1"); c != "lab//" {
		t.Fatalf("cohort %q", c)
	}
	// Once a device is enrolled, its cohort is its model and firmware's;
	// the others' stay their tenant's.
	en := events.New("zeek", "pos-1", &events.DeviceEnrolled{Model: "m7", Firmware: "2.1"})
	p.Process(&en)
	if c := p.cohort("zeek", "pos-1"); c != "zeek/m7/2.1" {
		t.Fatalf("cohort of an enrolled device %q", c)
	}
	if c := p.cohort("lab", "pos-1"); c != "lab//" { // another tenant's device of that id
		t.Fatalf("cohort %q", c)
	}
	if c := p.cohort("zeek", "pos-2"); c != "zeek//" {
		t.Fatalf("cohort %q", c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				tenant := fmt.Sprint("t", (i+g)%3)
				if c := p.cohort(tenant, "dev"); c != tenant+"//" {
					errs <- fmt.Errorf("goroutine %d: cohort of %s is %q", g, tenant, c)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
