package detect

import (
	"reflect"
	"testing"
	"time"

	"github.com/halo-sec/halo/events"
)

// TestInboundSetsEveryField: the inbound detector writes its reused
// finding field by field, so a field a caller changed (Describe's text,
// anything) must not survive into the next finding. Every field of the
// finding Event returned is set to something, then the next finding is
// compared with a fresh detector's: a field added to Finding and not
// reset by Event fails here.
func TestInboundSetsEveryField(t *testing.T) {
	evs := []events.Event{
		{ID: events.DerivedID("test", "1"), Tenant: "lab", Device: "10.0.0.5", Time: time.Date(2026, 11, 27, 9, 0, 30, 0, time.UTC),
			Payload: &events.ConnOpened{Inbound: true, DstHost: "203.0.113.9", DstPort: 23}},
		{ID: events.DerivedID("test", "2"), Tenant: "lab2", Device: "10.0.0.6", Time: time.Date(2026, 11, 27, 9, 3, 1, 0, time.UTC),
			Payload: &events.ConnOpened{Inbound: true, DstIp: "198.51.100.4", DstPort: 8080}},
	}
	used := &Inbound{window: time.Minute}
	for i := range evs {
		fs := used.Event(&evs[i])
		if len(fs) != 1 {
			t.Fatalf("event %d: %d findings", i, len(fs))
		}
		fs[0].Describe()
		v := reflect.ValueOf(&fs[0]).Elem()
		for j := range v.NumField() {
			if fl := v.Field(j); fl.CanSet() {
				fl.Set(garbage(t, fl.Type()))
			}
		}
		fs[0].describe = func(*Finding) {}
		next := used.Event(&evs[(i+1)%len(evs)])
		want := (&Inbound{window: time.Minute}).Event(&evs[(i+1)%len(evs)])
		if next[0].describe == nil || want[0].describe == nil {
			t.Fatalf("event %d: a finding left undescribed without its describe", i)
		}
		got, exp := next[0], want[0]
		got.describe, exp.describe = nil, nil
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("after event %d, a used detector found\n%+v\na fresh one\n%+v", i, got, exp)
		}
		next[0].Describe()
		want[0].Describe()
		if next[0].Summary != want[0].Summary || next[0].Explanation != want[0].Explanation || !reflect.DeepEqual(next[0].Features, want[0].Features) {
			t.Fatalf("after event %d, described as %q, a fresh detector's %q", i, next[0].Summary, want[0].Summary)
		}
	}
}

// garbage returns a value of type ty that is not its zero value.
func garbage(t *testing.T, ty reflect.Type) reflect.Value {
	v := reflect.New(ty).Elem()
	switch ty.Kind() {
	case reflect.String:
		v.SetString("garbage")
	case reflect.Int32:
		v.SetInt(7)
	case reflect.Uint32:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(0.125)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(ty, 1, 1))
		v.Index(0).Set(garbage(t, ty.Elem()))
	case reflect.Pointer:
		v.Set(reflect.New(ty.Elem()))
	case reflect.Uint8:
		v.SetUint(7)
	case reflect.Array:
		for i := range v.Len() {
			v.Index(i).Set(garbage(t, ty.Elem()))
		}
	case reflect.Struct:
		if ty == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)))
			break
		}
		t.Fatalf("no garbage for %v", ty)
	default:
		t.Fatalf("no garbage for %v", ty)
	}
	return v
}
