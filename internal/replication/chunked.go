package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Chunked copies (a policy's copy_by_chunk): blobs of at least
// chunkThreshold bytes are uploaded in chunks of chunkSize with PATCH and
// Content-Range; when a chunk fails, the upload's offset is asked of the
// destination (GET on the upload URL, its Range header) and the copy
// resumes there, reading the source from that offset with a Range
// request. A destination that keeps its upload sessions across a restart
// (Distribution, Berth) thus resumes instead of starting over.
const (
	chunkSize      = 4 << 20
	chunkThreshold = 8 << 20
	resumeAttempts = 4
)

// preUploadChunked uploads the large blobs of the manifest desc (and of
// its children, for an index) that the destination lacks, before the
// manifests are written (ggcr's write then finds them present).
func (c *copier) preUploadChunked(ctx context.Context, sr, dr name.Repository, desc *remote.Descriptor) error {
	var imgs []v1.Image
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, m := range im.Manifests {
			if !m.MediaType.IsImage() {
				continue
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
	default:
		img, err := desc.Image()
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	for _, img := range imgs {
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		for _, l := range m.Layers {
			if l.Size < chunkThreshold {
				continue
			}
			if err := c.chunkedBlob(ctx, sr, dr, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunkedBlob copies blob l from sr to dr in chunks, resuming after a
// failed chunk.
func (c *copier) chunkedBlob(ctx context.Context, sr, dr name.Repository, l v1.Descriptor) error {
	dt, err := transport.NewWithContext(ctx, c.dst.reg, c.dst.auth(), c.dst.base,
		[]string{dr.Scope(transport.PushScope)})
	if err != nil {
		return fmt.Errorf("destination: %w", c.scrub(err))
	}
	st, err := transport.NewWithContext(ctx, c.src.reg, c.src.auth(), c.src.base, []string{sr.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("source: %w", c.scrub(err))
	}
	dst, src := &http.Client{Transport: dt}, &http.Client{Transport: st}
	base := c.dst.reg.Scheme() + "://" + c.dst.reg.RegistryStr() + "/v2/" + dr.RepositoryStr()
	if resp, err := do(ctx, dst, http.MethodHead, base+"/blobs/"+l.Digest.String(), nil, nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	var offset int64
	loc := ""
	if saved := c.resume.get(l.Digest.String()); saved != "" {
		// An earlier attempt (perhaps another replica's) got this far.
		got, next, serr := uploadOffset(ctx, dst, saved, true)
		if serr == nil && got <= l.Size {
			loc, offset = next, got
			c.logf("resumed %s at byte %d of %d (the upload of an earlier attempt)", l.Digest, offset, l.Size)
		} else {
			c.logf("the upload of an earlier attempt cannot be resumed (%v): starting %s again", c.scrub(serr), l.Digest)
		}
	}
	if loc == "" {
		resp, err := do(ctx, dst, http.MethodPost, base+"/blobs/uploads/", nil, nil)
		if err != nil {
			return c.scrub(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("start upload of %s: %s", l.Digest, resp.Status)
		}
		if loc, err = resolve(base, resp.Header.Get("Location")); err != nil {
			return err
		}
	}
	failures := 0
	for offset < l.Size {
		n := min(int64(chunkSize), l.Size-offset)
		next, err := c.sendChunk(ctx, src, dst, sr, l, loc, offset, n)
		if err == nil {
			loc, offset = next, offset+n
			failures = 0
			c.resume.set(l.Digest.String(), loc)
			continue
		}
		failures++
		if failures >= resumeAttempts || ctx.Err() != nil {
			return fmt.Errorf("chunk at %d of %s: %w", offset, l.Digest, err)
		}
		c.logf("chunk at %d of %s failed (%v); asking the destination where to resume", offset, l.Digest, c.scrub(err))
		// Never PATCH again before the destination said where its upload
		// stands: a stale offset makes Distribution cancel the upload.
		for try := 1; ; try++ {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(try) * time.Second):
			}
			got, newLoc, serr := uploadOffset(ctx, dst, loc, false)
			if serr == nil {
				offset, loc = got, newLoc
				c.logf("resumed %s at byte %d of %d", l.Digest, offset, l.Size)
				break
			}
			if try >= resumeAttempts {
				return fmt.Errorf("chunk at %d of %s: %w (upload status: %w)", offset, l.Digest, err, c.scrub(serr))
			}
		}
	}
	u, err := url.Parse(loc)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", l.Digest.String())
	u.RawQuery = q.Encode()
	resp, err := do(ctx, dst, http.MethodPut, u.String(), nil, http.Header{"Content-Length": {"0"}})
	if err != nil {
		return c.scrub(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("finish upload of %s: %s %s", l.Digest, resp.Status, bytes.TrimSpace(b))
	}
	c.resume.set(l.Digest.String(), "")
	c.logf("uploaded %s in chunks (%d bytes)", l.Digest, l.Size)
	return nil
}

// sendChunk streams bytes [offset, offset+n) of blob l from the source
// into the upload at loc, and returns the upload's next location.
func (c *copier) sendChunk(ctx context.Context, src, dst *http.Client, sr name.Repository, l v1.Descriptor, loc string, offset, n int64) (string, error) {
	srcURL := c.src.reg.Scheme() + "://" + c.src.reg.RegistryStr() + "/v2/" + sr.RepositoryStr() + "/blobs/" + l.Digest.String()
	in, err := do(ctx, src, http.MethodGet, srcURL, nil,
		http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", offset, offset+n-1)}})
	if err != nil {
		return "", err
	}
	defer in.Body.Close()
	if in.StatusCode != http.StatusPartialContent {
		return "", fmt.Errorf("source range request: %s", in.Status)
	}
	h := http.Header{
		"Content-Type":   {"application/octet-stream"},
		"Content-Range":  {fmt.Sprintf("%d-%d", offset, offset+n-1)},
		"Content-Length": {strconv.FormatInt(n, 10)},
	}
	resp, err := do(ctx, dst, http.MethodPatch, loc, io.LimitReader(in.Body, n), h)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("PATCH: %s", resp.Status)
	}
	return resolve(loc, resp.Header.Get("Location"))
}

// uploadOffset asks the destination how much of the upload at loc it
// holds (Range: 0-<last>). Without keepState, Distribution's _state is
// left out: it holds the offset of the last chunk that succeeded, and
// Distribution cancels an upload whose stored size differs from it (part
// of the failed chunk may be there); Distribution then answers 400, Berth
// (which keeps the offset itself) the offset. With keepState (the saved
// location of the last chunk that succeeded, from an earlier attempt),
// Distribution resumes when nothing of a later chunk was stored, and
// cancels the upload otherwise.
func uploadOffset(ctx context.Context, dst *http.Client, loc string, keepState bool) (int64, string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return 0, "", err
	}
	if !keepState {
		q := u.Query()
		q.Del("_state")
		u.RawQuery = q.Encode()
	}
	resp, err := do(ctx, dst, http.MethodGet, u.String(), nil, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return 0, "", fmt.Errorf("upload status: %s", resp.Status)
	}
	next, err := resolve(loc, resp.Header.Get("Location"))
	if err != nil || next == "" {
		next = loc
	}
	r := resp.Header.Get("Range")
	if r == "" {
		return 0, next, nil
	}
	_, last, ok := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
	end, err := strconv.ParseInt(last, 10, 64)
	if !ok || err != nil {
		return 0, "", fmt.Errorf("upload status: Range %q", r)
	}
	return end + 1, next, nil
}

func do(ctx context.Context, hc *http.Client, method, u string, body io.Reader, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if cl := h.Get("Content-Length"); cl != "" {
		req.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	return hc.Do(req)
}

// resolve makes loc (a Location header) absolute against base.
func resolve(base, loc string) (string, error) {
	if loc == "" {
		return "", errors.New("upload: no Location")
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u, err := b.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// resumePoints are the upload locations of the blobs a task copies in
// chunks, saved with the task after every chunk, so that its next attempt
// (another replica's, after a crash) asks the destination where each
// upload stands and goes on from there.
type resumePoints struct {
	mu   sync.Mutex
	locs map[string]string // blob digest -> upload location
	// saving orders the writes of the state: the last one written is
	// the newest.
	saving sync.Mutex
	save   func(state string) error
}

// newResumePoints starts from the state an earlier attempt saved; save
// (nil: none) records the state after each change.
func newResumePoints(saved string, save func(string) error) *resumePoints {
	r := &resumePoints{locs: map[string]string{}, save: save}
	_ = json.Unmarshal([]byte(saved), &r.locs) // "" or written by state
	return r
}

func (r *resumePoints) get(d string) string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.locs[d]
}

// set records loc for blob d ("" forgets it) and saves the state.
func (r *resumePoints) set(d, loc string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if loc == "" {
		delete(r.locs, d)
	} else {
		r.locs[d] = loc
	}
	r.mu.Unlock()
	if r.save != nil {
		_ = r.flush(r.save) // the heartbeat saves it again
	}
}

// flush writes the current state with write.
func (r *resumePoints) flush(write func(state string) error) error {
	r.saving.Lock()
	defer r.saving.Unlock()
	return write(r.state())
}

// state is the JSON to save ("" when there is nothing to resume).
func (r *resumePoints) state() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.locs) == 0 {
		return ""
	}
	b, _ := json.Marshal(r.locs)
	return string(b)
}
