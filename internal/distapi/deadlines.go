package distapi

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Blob bodies may stream for far longer than the server's read and write
// timeouts allow a request; instead of lifting the deadlines, which would
// let a stalled client hold its connection forever, each bit of progress
// pushes them forward by the timeout again.

// progressReader is a request body whose connection read deadline moves
// to now+timeout at each successful read.
type progressReader struct {
	body    io.Reader
	rc      *http.ResponseController
	timeout time.Duration
	pushed  time.Time // when the deadline was last moved
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	if n > 0 {
		// Moving a deadline costs a timer update: do it at most a few
		// times per timeout.
		if now := time.Now(); now.Sub(p.pushed) >= p.timeout/8 {
			_ = p.rc.SetReadDeadline(now.Add(p.timeout))
			p.pushed = now
		}
	}
	return n, err
}

// streamBody returns r's body wrapped so that an upload making progress
// is never cut by the read timeout. The write deadline is lifted: the
// answer to an upload is a few headers, which the socket buffer takes
// whether or not the client reads them. Without Options.UploadTimeout it
// lifts both deadlines.
func (a *API) streamBody(w http.ResponseWriter, r *http.Request) io.Reader {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	if a.opts.UploadTimeout <= 0 {
		_ = rc.SetReadDeadline(time.Time{})
		return r.Body
	}
	_ = rc.SetReadDeadline(time.Now().Add(a.opts.UploadTimeout))
	return &progressReader{body: r.Body, rc: rc, timeout: a.opts.UploadTimeout, pushed: time.Now()}
}

// progressWriter is a response whose connection write deadline moves to
// now+timeout at each successful write.
type progressWriter struct {
	http.ResponseWriter
	bufs    *sync.Pool // ReadFrom's blocks
	rc      *http.ResponseController
	timeout time.Duration
	pushed  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if now := time.Now(); now.Sub(p.pushed) >= p.timeout/8 {
		_ = p.rc.SetWriteDeadline(now.Add(p.timeout))
		p.pushed = now
	}
	return p.ResponseWriter.Write(b)
}

// ReadFrom streams src in large blocks (io.Copy's default is 32 KiB: a
// read and a write system call each), moving the deadline as it goes.
func (p *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := p.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// newCopyBuffers returns the pool of blocks blob downloads are copied
// through (256 KiB each, one per download in progress).
func newCopyBuffers() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// streamResponse returns w wrapped so that a download the client keeps
// reading is never cut by the write timeout. Without
// Options.DownloadTimeout it lifts the write deadline.
func (a *API) streamResponse(w http.ResponseWriter) http.ResponseWriter {
	rc := http.NewResponseController(w)
	if a.opts.DownloadTimeout <= 0 {
		_ = rc.SetWriteDeadline(time.Time{})
		return w
	}
	_ = rc.SetWriteDeadline(time.Now().Add(a.opts.DownloadTimeout))
	return &progressWriter{ResponseWriter: w, bufs: a.copyBufs, rc: rc, timeout: a.opts.DownloadTimeout, pushed: time.Now()}
}
