package bench

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProgressDrawsOnlyWhenGivenAWriter(t *testing.T) {
	var none *progress = startProgress(nil, 10)
	none.add(3) // nil-safe
	none.finish()

	var b bytes.Buffer
	p := startProgress(&b, 4)
	p.add(4)
	p.finish()
	p.finish() // idempotent
	out := b.String()
	if !strings.Contains(out, "\r4 / 4 ["+strings.Repeat("=", 40)+"] 100.00%") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("progress output %q", out)
	}
}

func TestLimiter(t *testing.T) {
	var unlimited *limiter = newLimiter(0)
	if unlimited != nil || unlimited.wait(context.Background()) != nil {
		t.Fatal("rate 0 must never wait")
	}
	l := newLimiter(1) // one per second, burst one
	if err := l.wait(context.Background()); err != nil {
		t.Fatalf("first slot is immediate: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("second slot is a second away; cancelled wait returned %v", err)
	}
	if !l.next.After(time.Now()) {
		t.Fatal("slots must advance")
	}
}

func BenchmarkRecorderRecord(b *testing.B) {
	r := NewRecorder("put", time.Now, false)
	st := time.Now()
	res := Result{Start: st, End: st.Add(time.Millisecond)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(res)
		}
	})
}

func BenchmarkComputeStats100k(b *testing.B) {
	lats := make([]float64, 100000)
	for i := range lats {
		lats[i] = float64((i*7919)%100000) / 1e6
	}
	buf := make([]float64, len(lats))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, lats)
		s := ComputeStats("put", buf, nil, time.Second)
		_ = s.Text(false)
	}
}
