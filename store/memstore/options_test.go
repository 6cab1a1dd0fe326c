package memstore

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/clock"
	"github.com/throttled-go/throttled/store"
)

// funcClock is a Clock made of a function; its nil value is a nil clock
// that is not a pointer.
type funcClock func() int64

func (f funcClock) Now() int64 { return f() }

// TestBadOptions: every bad option makes New return a *algo.DataError that
// names the bad value (and no store), never a panic, an allocation sized by
// the bad value, or a store that fails later.
func TestBadOptions(t *testing.T) {
	cases := []struct {
		name    string
		opt     Option
		field   string // DataError.Name
		value   any    // DataError.Value
		message string // in the error's text
	}{
		{"WithMaxSize(0)", WithMaxSize(0), "max size", 0, "invalid max size 0"},
		{"WithMaxSize(-1)", WithMaxSize(-1), "max size", -1, "invalid max size -1"},
		{"WithMaxSize(MinInt)", WithMaxSize(math.MinInt), "max size", math.MinInt, "invalid max size -9223372036854775808"},
		{"WithShards(0)", WithShards(0), "shards", 0, "invalid shards 0"},
		{"WithShards(-1)", WithShards(-1), "shards", -1, "invalid shards -1"},
		{"WithShards(MaxShards+1)", WithShards(MaxShards + 1), "shards", MaxShards + 1, "invalid shards 65537"},
		{"WithShards(1<<40)", WithShards(1 << 40), "shards", 1 << 40, "invalid shards 1099511627776"},
		{"WithClock(nil)", WithClock(nil), "clock", "nil", `invalid clock "nil"`},
		{"WithClock(nil *store.FakeClock)", WithClock((*store.FakeClock)(nil)), "clock", "nil", `invalid clock "nil"`},
		{"WithClock(nil *clock.Fake)", WithClock((*clock.Fake)(nil)), "clock", "nil", `invalid clock "nil"`},
		{"WithClock(nil *store.CoarseClock)", WithClock((*store.CoarseClock)(nil)), "clock", "nil", `invalid clock "nil"`},
		{"WithClock(nil func)", WithClock(funcClock(nil)), "clock", "nil", `invalid clock "nil"`},
		{"nil option", nil, "option", "nil", `invalid option "nil"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var (
				s   *Store
				err error
			)
			if p := catch(func() { s, err = New(WithShards(4), c.opt, WithMaxSize(100)) }); p != nil {
				t.Fatalf("New panics: %v", p)
			}
			var de *algo.DataError
			if !errors.As(err, &de) || !errors.Is(err, algo.ErrInvalid) {
				t.Fatalf("New = %v (%T), want a *algo.DataError", err, err)
			}
			if de.Name != c.field || de.Value != c.value {
				t.Errorf("DataError{Name: %q, Value: %v}, want {%q, %v}", de.Name, de.Value, c.field, c.value)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "throttled: ") || !strings.Contains(msg, c.message) {
				t.Errorf("error %q, want it to say %q", msg, c.message)
			}
			if s != nil {
				t.Errorf("New returned a store with an error")
			}
		})
	}
}

// TestGoodOptions: the extreme valid values build a working store, the
// defaults are as documented, and options apply in order.
func TestGoodOptions(t *testing.T) {
	p := policy(t, algo.GCRA, algo.PerSec(3))
	t.Run("defaults", func(t *testing.T) {
		s, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if s.maxSize != DefaultMaxSize || s.nShards != DefaultShards || s.Clock() != store.SystemClock() {
			t.Errorf("defaults: max size %d, shards %d, clock %v; want %d, %d, the system clock", s.maxSize, s.nShards, s.Clock(), DefaultMaxSize, DefaultShards)
		}
		if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 2 {
			t.Errorf("Decide on the system clock = %+v, want allowed, Remaining 2", d)
		}
	})
	for _, c := range []struct {
		name           string
		opts           []Option
		shards, perCap int
	}{
		{"max_size=MaxInt", []Option{WithMaxSize(math.MaxInt)}, DefaultShards, math.MaxInt / DefaultShards},
		{"max_size=1", []Option{WithMaxSize(1)}, DefaultShards, 1}, // raised to one key per shard
		{"shards=MaxShards", []Option{WithShards(MaxShards)}, MaxShards, DefaultMaxSize / MaxShards},
		{"shards=1,max_size=1", []Option{WithShards(1), WithMaxSize(1)}, 1, 1},
		{"last_wins", []Option{WithShards(2), WithMaxSize(10), WithShards(8), WithMaxSize(80)}, 8, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newTestStore(t, t2025, c.opts...)
			tbl := For[int](s)
			if len(tbl.shards) != c.shards || tbl.shards[0].cap != c.perCap {
				t.Errorf("%d shards of %d keys, want %d of %d", len(tbl.shards), tbl.shards[0].cap, c.shards, c.perCap)
			}
			for i := range 3 {
				decide(t, tbl, i, p, 1)
			}
			if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 2 {
				t.Errorf("Decide = %+v, want allowed, Remaining 2", d)
			}
		})
	}
	t.Run("clocks", func(t *testing.T) {
		fake := store.NewFakeClock(t2025)
		coarse := store.NewCoarseClock(time.Millisecond)
		t.Cleanup(func() { coarse.Close() })
		for _, c := range []store.Clock{fake, coarse, funcClock(func() int64 { return t2025 })} {
			s, err := New(WithClock(c))
			if err != nil {
				t.Fatalf("WithClock(%T): %v", c, err)
			}
			if d := decide(t, s, "k", p, 1); d.Limited || d.Remaining != 2 {
				t.Errorf("WithClock(%T): Decide = %+v, want allowed, Remaining 2", c, d)
			}
		}
	})
}
