package identity

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestHeapReleaseAfterLastHash(t *testing.T) {
	tests := []struct {
		name   string
		steps  string // b = begin, e = end (each end that leaves no hash running waits for its release)
		wantGo int32
	}{
		{"one hash: before and after", "be", 2},
		{"overlapping hashes release once before and once after", "bbee", 2},
		{"hashes one after the other", "bebe", 4},
		{"no hash", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			release := make(chan struct{}, 8)
			h := &heapRelease{release: func() { calls.Add(1); release <- struct{}{} }}
			want := int32(0)
			for _, s := range tt.steps {
				if s == 'b' {
					h.mu.Lock()
					first := h.running == 0
					h.mu.Unlock()
					h.begin()
					if first {
						want++
						<-release // ran synchronously
					}
					continue
				}
				h.end()
				h.mu.Lock()
				running := h.running
				h.mu.Unlock()
				if running == 0 {
					want++
					select {
					case <-release:
					case <-time.After(10 * time.Second):
						t.Fatal("no release after the last hash ended")
					}
					waitNotPending(t, h)
				}
			}
			if got := calls.Load(); got != tt.wantGo || got != want {
				t.Fatalf("release ran %d times, want %d", got, tt.wantGo)
			}
		})
	}
}

func waitNotPending(t *testing.T, h *heapRelease) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		p := h.pending
		h.mu.Unlock()
		if !p {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("release still pending")
}
