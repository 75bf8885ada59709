package backup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Progress is told how a copy goes. Its methods may be called from
// several goroutines at once.
type Progress interface {
	// Start announces the work: blobs and their bytes.
	Start(blobs, bytes int64)
	// Bytes reports n more bytes read.
	Bytes(n int64)
	// Blob reports a blob done (copied, or skipped: its size counts as
	// done as well).
	Blob(size int64, copied bool)
	// Done ends the report.
	Done()
}

type nopProgress struct{}

func (nopProgress) Start(int64, int64) {}
func (nopProgress) Bytes(int64)        {}
func (nopProgress) Blob(int64, bool)   {}
func (nopProgress) Done()              {}

// counter holds the figures both reporters show.
type counter struct {
	mu                   sync.Mutex
	blobs, bytes         int64 // totals
	doneBlobs, doneBytes int64
	inBlob               int64 // bytes of blobs in flight
	started              time.Time
	stop                 chan struct{}
	wg                   sync.WaitGroup
	render               func(final bool)
	every                time.Duration
}

func (c *counter) Start(blobs, bytes int64) {
	c.mu.Lock()
	c.blobs, c.bytes, c.started = blobs, bytes, time.Now()
	stop := make(chan struct{})
	c.stop = stop
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.render(false)
			}
		}
	}()
}

func (c *counter) Bytes(n int64) {
	c.mu.Lock()
	c.inBlob += n
	c.mu.Unlock()
}

func (c *counter) Blob(size int64, copied bool) {
	c.mu.Lock()
	c.doneBlobs++
	c.doneBytes += size
	if copied {
		c.inBlob -= size
		if c.inBlob < 0 {
			c.inBlob = 0
		}
	}
	c.mu.Unlock()
}

func (c *counter) Done() {
	c.mu.Lock()
	stop := c.stop
	c.stop = nil
	c.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	c.wg.Wait()
	c.render(true)
}

// figures returns done bytes, done blobs, rate (bytes/s) and ETA.
func (c *counter) figures() (bytes, blobs int64, rate float64, eta time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	bytes = min(c.doneBytes+c.inBlob, c.bytes)
	el := time.Since(c.started).Seconds()
	if el > 0 {
		rate = float64(bytes) / el
	}
	if rate > 0 {
		eta = time.Duration(float64(c.bytes-bytes) / rate * float64(time.Second))
	}
	return bytes, c.doneBlobs, rate, eta
}

// Bar draws a progress bar on a terminal: bytes, blobs, rate, ETA.
func Bar(w io.Writer, label string) Progress {
	c := &counter{every: 200 * time.Millisecond}
	c.render = func(final bool) {
		bytes, blobs, rate, eta := c.figures()
		frac := 1.0
		if c.bytes > 0 {
			frac = float64(bytes) / float64(c.bytes)
		}
		const width = 30
		n := int(frac * width)
		line := fmt.Sprintf("\r%s [%s%s] %3.0f%% %s/%s  %d/%d blobs  %s/s  ETA %s ",
			label, strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100,
			human(bytes), human(c.bytes), blobs, c.blobs, human(int64(rate)), eta.Round(time.Second))
		if final {
			line += "\n"
		}
		fmt.Fprint(w, line)
	}
	return c
}

// Lines logs the progress every interval: for logs, not terminals.
func Lines(ctx context.Context, log *slog.Logger, label string, every time.Duration) Progress {
	c := &counter{every: every}
	c.render = func(final bool) {
		bytes, blobs, rate, eta := c.figures()
		msg := label + " progress"
		if final {
			msg = label + " blobs done"
		}
		log.InfoContext(ctx, msg, "bytes", bytes, "bytes_total", c.bytes, "blobs", blobs, "blobs_total", c.blobs,
			"mb_per_s", fmt.Sprintf("%.1f", rate/1e6), "eta_s", int(eta.Seconds()))
	}
	return c
}

// human formats a byte count with a binary unit.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
