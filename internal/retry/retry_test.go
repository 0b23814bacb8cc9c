package retry

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

var errFlaky = errors.New("flaky")

func TestDoRetriesOnlyWhatIsRetryableUpToTheLimit(t *testing.T) {
	retryable := func(err error) bool { return errors.Is(err, errFlaky) }
	for _, c := range []struct {
		name    string
		fails   int
		err     error
		retries int
		calls   int
		ok      bool
	}{
		{"succeeds at once", 0, errFlaky, 2, 1, true},
		{"succeeds on the last retry", 2, errFlaky, 2, 3, true},
		{"gives up after the retries", 5, errFlaky, 2, 3, false},
		{"not retryable", 5, io.ErrUnexpectedEOF, 2, 1, false},
		{"no retries", 5, errFlaky, 0, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls, heard := 0, 0
			v, err := Do(context.Background(), c.retries, retryable, func(attempt int, err error) { heard++ }, func() (int, error) {
				calls++
				if calls <= c.fails {
					return 0, c.err
				}
				return 7, nil
			})
			if calls != c.calls || (err == nil) != c.ok || c.ok && v != 7 || heard != calls-1 {
				t.Errorf("calls %d (want %d), err %v, v %d, retries heard %d", calls, c.calls, err, v, heard)
			}
		})
	}
}

func TestDoStopsWaitingWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Do(ctx, 100, func(error) bool { return true }, func(int, error) { cancel() }, func() (int, error) {
		calls++
		return 0, errFlaky
	})
	if calls != 1 || !errors.Is(err, errFlaky) {
		t.Errorf("calls %d, err %v: want one call and its error", calls, err)
	}
}

func TestBackoffGrowsAndIsBounded(t *testing.T) {
	for attempt := 1; attempt < 20; attempt++ {
		full := min(100*time.Millisecond<<min(attempt-1, 6), 5*time.Second)
		if d := Backoff(attempt); d < full/2 || d > full {
			t.Errorf("attempt %d: %v outside [%v, %v]", attempt, d, full/2, full)
		}
	}
}

type closer struct{ closed chan struct{} }

func (c closer) Close() error { close(c.closed); return nil }

func TestWatchdogClosesAStalledBodyOnly(t *testing.T) {
	c := closer{make(chan struct{})}
	w := Watch(c, 20*time.Millisecond)
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("a body that delivers nothing was not closed")
	}
	if !w.Stalled() || w.Explain(io.ErrClosedPipe) == io.ErrClosedPipe {
		t.Error("the stall is not reported")
	}
	busy := closer{make(chan struct{})}
	w = Watch(busy, time.Hour)
	w.Progress()
	w.Stop()
	if w.Stalled() || w.Explain(io.EOF) != io.EOF {
		t.Error("a body that did not stall is reported stalled")
	}
}
