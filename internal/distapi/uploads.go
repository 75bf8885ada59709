package distapi

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/content"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

func (a *API) uploadLocation(repo, id string) string {
	return a.opts.ExternalURL + "/v2/" + repo + "/blobs/uploads/" + id
}
func (a *API) blobLocation(repo, d string) string {
	return a.opts.ExternalURL + "/v2/" + repo + "/blobs/" + d
}

// startUpload handles POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=&from=), a monolithic push (?digest=) or a new session.
func (a *API) startUpload(w http.ResponseWriter, r *http.Request, t target) error {
	ctx := r.Context()
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		d, err := oci.ParseDigest(mount)
		if err != nil {
			return err
		}
		// Mounting needs pull on the source; without it, fall back to a new
		// session exactly as for a blob the source does not hold, so the
		// answer says nothing about what the source holds.
		if from := q.Get("from"); from != "" && oci.ValidateName(from) == nil && a.opts.Auth.Allowed(ctx, from, []string{actionPull}) {
			b, err := a.content.Mount(ctx, t.repo, from, d)
			switch {
			case err == nil:
				return a.blobCreated(w, t.repo, b.Digest.String())
			case !errors.Is(err, meta.ErrBlobNotFound):
				return err
			}
		}
		// Not mountable: fall back to a new session, as the spec says.
	}
	if ds := q.Get("digest"); ds != "" {
		d, err := oci.ParseDigest(ds)
		if err != nil {
			return err
		}
		b, err := a.content.PutBlob(ctx, t.repo, d, a.streamBody(w, r), r.ContentLength)
		if err != nil {
			return err
		}
		return a.blobCreated(w, t.repo, b.Digest.String())
	}
	u, err := a.content.StartUpload(ctx, t.repo, access.FromContext(ctx).Name)
	if err != nil {
		return err
	}
	a.writeUploadStatus(w, u, http.StatusAccepted)
	return nil
}

func (a *API) blobCreated(w http.ResponseWriter, repo, d string) error {
	h := w.Header()
	h.Set("Location", a.blobLocation(repo, d))
	h.Set("Docker-Content-Digest", d)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) writeUploadStatus(w http.ResponseWriter, u meta.Upload, status int) {
	h := w.Header()
	h.Set("Location", a.uploadLocation(u.Repository, u.ID))
	h.Set("Docker-Upload-UUID", u.ID)
	end := u.Offset - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", "0-"+strconv.FormatInt(end, 10))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (a *API) uploadStatus(w http.ResponseWriter, r *http.Request, t target) error {
	u, err := a.content.Upload(r.Context(), t.repo, t.ref)
	if err != nil {
		return err
	}
	a.writeUploadStatus(w, u, http.StatusNoContent)
	return nil
}

func (a *API) patchUpload(w http.ResponseWriter, r *http.Request, t target) error {
	c, err := chunkOf(r, a.streamBody(w, r))
	if err != nil {
		return err
	}
	u, err := a.content.AppendUpload(r.Context(), t.repo, t.ref, c)
	if errors.Is(err, content.ErrRangeInvalid) {
		// Tell the client where the session really ends.
		writeRangeError(w, r, a, u, err)
		return nil
	}
	if err != nil {
		return err
	}
	a.writeUploadStatus(w, u, http.StatusAccepted)
	return nil
}

func writeRangeError(w http.ResponseWriter, r *http.Request, a *API, u meta.Upload, err error) {
	h := w.Header()
	h.Set("Location", a.uploadLocation(u.Repository, u.ID))
	h.Set("Docker-Upload-UUID", u.ID)
	end := u.Offset - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", "0-"+strconv.FormatInt(end, 10))
	a.writeError(w, r, err)
}

func (a *API) finishUpload(w http.ResponseWriter, r *http.Request, t target) error {
	ds := r.URL.Query().Get("digest")
	if ds == "" {
		return newError("DIGEST_INVALID", http.StatusBadRequest, "the digest query parameter is required to finish an upload")
	}
	d, err := oci.ParseDigest(ds)
	if err != nil {
		return err
	}
	c, err := chunkOf(r, a.streamBody(w, r))
	if err != nil {
		return err
	}
	b, took, err := a.content.FinishUpload(r.Context(), t.repo, t.ref, d, c)
	if err != nil {
		return err
	}
	if a.opts.OnUploadFinished != nil {
		a.opts.OnUploadFinished(took, b.Size)
	}
	return a.blobCreated(w, t.repo, b.Digest.String())
}

func (a *API) cancelUpload(w http.ResponseWriter, r *http.Request, t target) error {
	if err := a.content.CancelUpload(r.Context(), t.repo, t.ref); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// chunkOf reads a PATCH or PUT body's extent from Content-Range
// ("start-end", inclusive; also "bytes start-end/*") and Content-Length;
// the chunk reads body (r's, wrapped).
func chunkOf(r *http.Request, body io.Reader) (content.Chunk, error) {
	c := content.Chunk{Start: -1, Length: r.ContentLength, Body: body}
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return c, nil
	}
	start, end, err := parseContentRange(cr)
	if err != nil {
		return c, newError("BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable, "%v", err)
	}
	n := end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != n {
		return c, newError("SIZE_INVALID", http.StatusBadRequest, "Content-Range covers %d bytes but Content-Length is %d", n, r.ContentLength)
	}
	c.Start, c.Length = start, n
	return c, nil
}

func parseContentRange(s string) (start, end int64, err error) {
	v := strings.TrimSpace(s)
	v = strings.TrimPrefix(v, "bytes")
	v = strings.TrimLeft(v, " =")
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[:i]
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("invalid Content-Range %q: want start-end", truncate(s, 60))
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	// end = MaxInt64 would make the length, end-start+1, overflow.
	if err1 != nil || err2 != nil || start < 0 || end < start || end == math.MaxInt64 {
		return 0, 0, fmt.Errorf("invalid Content-Range %q: want start-end", truncate(s, 60))
	}
	return start, end, nil
}
