package distapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// redirectTTL is how long a presigned blob URL stays valid.
const redirectTTL = 20 * time.Minute

func (a *API) getBlob(w http.ResponseWriter, r *http.Request, t target) error {
	d, err := oci.ParseDigest(t.ref)
	if err != nil {
		return err
	}
	if handled, err := a.proxyBlob(w, r, t, d); handled || err != nil {
		return err
	}
	b, err := a.content.Stat(r.Context(), t.repo, d)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", b.Digest.String())
	h.Set("ETag", `"`+b.Digest.String()+`"`)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "max-age=31536000")
	if r.Method == http.MethodHead {
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// Drivers that can hand out a presigned URL send the client there.
	if u, ok, err := a.content.RedirectURL(r.Context(), b, redirectTTL); err != nil {
		a.log.WarnContext(r.Context(), "presign blob, streaming instead", "digest", b.Digest.String(), "err", err)
	} else if ok {
		h.Set("Location", u)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return nil
	}
	// A blob of many GiB streams for longer than the server's write
	// timeout allows a small response: the deadline follows progress.
	if v := r.Header.Get("Range"); v != "" {
		r.Header.Set("Range", withoutEmptySuffixes(v, b.Size))
	}
	// A local file goes to the socket with sendfile (progressWriter.ReadFrom).
	f, isFile, err := a.content.OpenFile(r.Context(), b)
	if err != nil {
		return err
	}
	if isFile {
		defer f.Close()
		http.ServeContent(a.streamResponse(w), r, "", time.Time{}, f)
		return nil
	}
	rs := &blobSeeker{ctx: r.Context(), svc: a.content, blob: b}
	defer rs.Close()
	http.ServeContent(a.streamResponse(w), r, "", time.Time{}, rs)
	if rs.err != nil && !errors.Is(rs.err, context.Canceled) {
		a.log.WarnContext(r.Context(), "blob stream failed", "digest", b.Digest.String(), "err", rs.err)
	}
	return nil
}

// withoutEmptySuffixes drops the zero-length suffix ranges ("-0") from a
// Range header. They select nothing (RFC 9110, 14.1.2), but
// http.ServeContent answers them with 206 and the invalid Content-Range
// "bytes N-(N-1)/N" (Go issue 81262). A header of nothing else becomes a
// range past the end, which ServeContent answers with 416 and
// "Content-Range: bytes */N", If-Range still honoured.
func withoutEmptySuffixes(h string, size int64) string {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return h
	}
	var keep []string
	dropped, rest := false, false
	for _, ra := range strings.Split(spec, ",") {
		start, end, _ := strings.Cut(ra, "-")
		end = textproto.TrimString(end)
		if textproto.TrimString(start) == "" && end != "" && end[0] != '-' {
			if n, err := strconv.ParseInt(end, 10, 64); err == nil && n == 0 {
				dropped = true
				continue
			}
		}
		keep = append(keep, ra)
		rest = rest || textproto.TrimString(ra) != ""
	}
	switch {
	case !dropped:
		return h
	case !rest:
		return "bytes=" + strconv.FormatInt(size, 10) + "-"
	}
	return "bytes=" + strings.Join(keep, ",")
}

// blobSeeker adapts a storage reader that opens at an offset to the
// io.ReadSeeker http.ServeContent wants (for Range requests); it opens the
// underlying reader lazily at the position last sought.
type blobSeeker struct {
	ctx  context.Context //nolint:containedctx // lives for one ServeContent call
	svc  *content.Service
	blob meta.Blob
	pos  int64
	rc   io.ReadCloser
	err  error
}

func (s *blobSeeker) Read(p []byte) (int, error) {
	if s.pos >= s.blob.Size {
		return 0, io.EOF
	}
	if s.rc == nil {
		rc, err := s.svc.Open(s.ctx, s.blob, s.pos)
		if err != nil {
			s.err = err
			return 0, err
		}
		s.rc = rc
	}
	n, err := s.rc.Read(p)
	s.pos += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

func (s *blobSeeker) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = s.pos + offset
	case io.SeekEnd:
		pos = s.blob.Size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if pos < 0 {
		return 0, errors.New("seek: negative position")
	}
	if pos != s.pos && s.rc != nil {
		_ = s.rc.Close()
		s.rc = nil
	}
	s.pos = pos
	return pos, nil
}

func (s *blobSeeker) Close() error {
	if s.rc == nil {
		return nil
	}
	err := s.rc.Close()
	s.rc = nil
	return err
}

func (a *API) deleteBlob(w http.ResponseWriter, r *http.Request, t target) error {
	d, err := oci.ParseDigest(t.ref)
	if err != nil {
		return err
	}
	if err := a.content.Delete(r.Context(), t.repo, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	a.event(r, Event{Operation: EventDelete, Kind: EventBlob, Repository: t.repo, Reference: t.ref, Digest: d.String()})
	return nil
}
