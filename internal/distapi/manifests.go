package distapi

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

func (a *API) getManifest(w http.ResponseWriter, r *http.Request, t target) error {
	m, err := a.proxyManifest(r, t)
	if err != nil {
		return err
	}
	if oci.IsIndex(m.MediaType) && !accepts(r.Header.Values("Accept"), m.MediaType) {
		// As Distribution does: a client that cannot read an index must
		// not be handed one.
		return newError("MANIFEST_UNKNOWN", http.StatusNotFound,
			"manifest %s is a %s, which the request's Accept header does not list", m.Digest, m.MediaType)
	}
	if a.opts.PullPolicy != nil && r.Method == http.MethodGet {
		if err := a.opts.PullPolicy(r.Context(), t.repo, t.ref, m); err != nil {
			return err
		}
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("ETag", `"`+m.Digest.String()+`"`)
	h.Set("Content-Length", strconv.Itoa(len(m.Payload)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(m.Payload)
		a.event(r, Event{Operation: EventPull, Kind: EventArtifact, Repository: t.repo, Reference: t.ref, Digest: m.Digest.String()})
	}
	return nil
}

// accepts reports whether an Accept header (absent means anything) admits mediaType.
func accepts(values []string, mediaType string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if mt == mediaType || mt == "*/*" || mt == "application/*" {
				return true
			}
		}
	}
	return false
}

func (a *API) putManifest(w http.ResponseWriter, r *http.Request, t target) error {
	// Read one byte past the limit so the registry can say "too large".
	payload, err := io.ReadAll(io.LimitReader(r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	if r.ContentLength >= 0 && int64(len(payload)) != r.ContentLength && len(payload) <= oci.MaxManifestSize {
		return newError("SIZE_INVALID", http.StatusBadRequest, "Content-Length is %d but the body has %d bytes", r.ContentLength, len(payload))
	}
	// OCI 1.1+: PUT by digest may name tags with ?tag= (bounded).
	tags := r.URL.Query()["tag"]
	if len(tags) > maxTagParams {
		return newError("TAG_INVALID", http.StatusBadRequest, "at most %d tag parameters", maxTagParams)
	}
	res, err := a.registry.PutManifest(r.Context(), t.repo, t.ref, r.Header.Get("Content-Type"), payload, tags...)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", a.opts.ExternalURL+"/v2/"+t.repo+"/manifests/"+res.Digest.String())
	h.Set("Docker-Content-Digest", res.Digest.String())
	if res.Subject != "" {
		h.Set("OCI-Subject", res.Subject.String())
	}
	for _, tag := range res.Tags {
		h.Add("OCI-Tag", tag)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	a.event(r, Event{Operation: EventPush, Kind: EventArtifact, Repository: t.repo, Reference: t.ref, Digest: res.Digest.String()})
	return nil
}

// maxTagParams bounds the ?tag= parameters of one manifest PUT.
const maxTagParams = 100

func (a *API) deleteManifest(w http.ResponseWriter, r *http.Request, t target) error {
	if err := a.registry.DeleteManifest(r.Context(), t.repo, t.ref); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	e := Event{Operation: EventDelete, Kind: EventTag, Repository: t.repo, Reference: t.ref}
	if oci.IsDigest(t.ref) {
		e.Kind, e.Digest = EventArtifact, t.ref
	}
	a.event(r, e)
	return nil
}
