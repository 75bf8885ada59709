package distapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// pageParams reads ?n= and ?last=. Without n a page holds
// registry.MaxListLimit entries; a larger n is clamped to it (the spec
// lets a registry return fewer than n) and a Link header leads on.
func pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	if len(last) > 512 {
		return 0, "", newError("PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "last is longer than 512 characters")
	}
	ns := q.Get("n")
	if ns == "" {
		return registry.MaxListLimit, last, nil
	}
	v, perr := strconv.ParseInt(ns, 10, 64)
	if perr != nil || v < 0 {
		return 0, "", newError("PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "n must be a non-negative integer, got %q", truncate(ns, 40))
	}
	if v > registry.MaxListLimit {
		v = registry.MaxListLimit
	}
	return int(v), last, nil
}

func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	q := url.Values{}
	q.Set("last", last)
	q.Set("n", strconv.Itoa(n))
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func (a *API) tags(w http.ResponseWriter, r *http.Request, t target) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	tags, more, err := a.registry.Tags(r.Context(), t.repo, last, n)
	if err != nil {
		return err
	}
	if more && len(tags) > 0 {
		setNextLink(w, "/v2/"+t.repo+"/tags/list", n, tags[len(tags)-1])
	}
	writeJSON(w, http.StatusOK, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{t.repo, tags})
	return nil
}

func (a *API) catalog(w http.ResponseWriter, r *http.Request, _ target) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	repos, more, err := a.registry.Catalog(r.Context(), last, n)
	if err != nil {
		return err
	}
	if more && len(repos) > 0 {
		setNextLink(w, "/v2/_catalog", n, repos[len(repos)-1])
	}
	writeJSON(w, http.StatusOK, struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

func (a *API) referrers(w http.ResponseWriter, r *http.Request, t target) error {
	d, err := oci.ParseDigest(t.ref)
	if err != nil {
		return err
	}
	at := r.URL.Query().Get("artifactType")
	body, err := a.registry.Referrers(r.Context(), t.repo, d, at)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", oci.MediaTypeImageIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
