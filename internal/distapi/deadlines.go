package distapi

import (
	"io"
	"net/http"
	"os"
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
	p.push()
	return p.ResponseWriter.Write(b)
}

// push moves the write deadline to now+timeout, at most a few times per
// timeout (moving it costs a timer update).
func (p *progressWriter) push() {
	if now := time.Now(); now.Sub(p.pushed) >= p.timeout/8 {
		_ = p.rc.SetWriteDeadline(now.Add(p.timeout))
		p.pushed = now
	}
}

// sendBlock is how much of a file one ReadFrom of the connection sends
// (sendfile(2)) before the deadline is moved again: the client has the
// whole timeout to take each block, as with the copied blocks below.
const sendBlock = 256 << 10

// ReadFrom streams src in large blocks (io.Copy's default is 32 KiB: a
// read and a write system call each), moving the deadline as it goes. A
// file (http.ServeContent passes it inside an io.LimitedReader) goes to
// the ResponseWriter's own ReadFrom, which on a plain TCP connection hands
// it to the kernel: no copy through user space.
func (p *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := p.ResponseWriter.(io.ReaderFrom); ok {
		if f, remain, ok := fileSource(src); ok {
			return p.sendFile(rf, f, remain, src)
		}
	}
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

// fileSource returns the file src reads and how many bytes it may still
// read (-1: to the end of the file) when src is an *os.File or an
// *io.LimitedReader of one.
func fileSource(src io.Reader) (f *os.File, remain int64, ok bool) {
	remain = -1
	if lr, isLR := src.(*io.LimitedReader); isLR {
		src, remain = lr.R, lr.N
	}
	f, ok = src.(*os.File)
	return f, remain, ok
}

// sendFile sends file f (remain bytes of it, -1 to its end) through rf in
// blocks of sendBlock, moving the deadline before each; a limited src is
// kept up to date as io.LimitedReader would be.
func (p *progressWriter) sendFile(rf io.ReaderFrom, f *os.File, remain int64, src io.Reader) (int64, error) {
	var total int64
	for remain != 0 {
		p.push()
		block := int64(sendBlock)
		if remain > 0 {
			block = min(block, remain)
		}
		// One level of io.LimitedReader around the file: the connection
		// unwraps exactly one before it looks for the file.
		n, err := rf.ReadFrom(&io.LimitedReader{R: f, N: block})
		total += n
		if remain > 0 {
			remain -= n
		}
		if lr, ok := src.(*io.LimitedReader); ok {
			lr.N -= n
		}
		if err != nil {
			return total, err
		}
		if n < block { // end of the file
			return total, nil
		}
	}
	return total, nil
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
