package publish_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/halo-sec/halo/events"
	"github.com/halo-sec/halo/events/natsstore"
	"github.com/halo-sec/halo/events/publish"
)

// An edge emits through a Publisher: Emit never waits for the log, Run
// flushes in the background, Close flushes what is left.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "halo-publish-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := natsstore.Open(ctx, natsstore.Config{DataDir: filepath.Join(dir, "data")}, nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()

	pub, err := publish.New(publish.Config{SpoolDir: filepath.Join(dir, "spool")}, store, nil)
	if err != nil {
		panic(err)
	}
	go pub.Run(ctx)

	ev := events.New("acme", "pos-1", &events.ConnOpened{ConnId: "c1", DstHost: "pay.example.com", DstPort: 443})
	switch err := pub.Emit(ev); {
	case errors.Is(err, publish.ErrSpoolFull), errors.Is(err, publish.ErrBufferFull):
		fmt.Println("refuse the connection: events cannot be recorded")
	case err != nil:
		fmt.Println("bad event:", err)
	}
	if err := pub.Close(ctx); err != nil {
		panic(err)
	}

	for ev, err := range store.Read(ctx, events.Query{Tenant: "acme"}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(ev.Type(), ev.Device)
	}
	st := pub.Stats()
	fmt.Println("emitted", st.Emitted, "appended", st.Appended, "spooled", st.SpooledEvents)
	// Output:
	// conn.opened pos-1
	// emitted 1 appended 1 spooled 0
}
