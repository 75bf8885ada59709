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

// maxCatalogScan bounds how many pages of repositories one catalog
// request reads while filtering out those the caller may not see; a page
// that comes back short still links to the next one.
const maxCatalogScan = 10

// catalog lists the repositories the caller may pull, n at a time.
func (a *API) catalog(w http.ResponseWriter, r *http.Request, _ target) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	out := []string{}
	cursor, more := last, false
	for range maxCatalogScan {
		if n == 0 {
			break
		}
		repos, m, err := a.registry.Catalog(ctx, cursor, n)
		if err != nil {
			return err
		}
		vis, err := a.opts.Auth.FilterVisible(ctx, repos)
		if err != nil {
			return err
		}
		visible := make(map[string]bool, len(vis))
		for _, v := range vis {
			visible[v] = true
		}
		more = m
		for i, repo := range repos {
			cursor = repo
			if visible[repo] {
				out = append(out, repo)
			}
			if len(out) == n {
				more = more || i < len(repos)-1
				break
			}
		}
		if len(out) == n || !m {
			break
		}
	}
	if more && cursor != "" {
		setNextLink(w, "/v2/_catalog", n, cursor)
	}
	writeJSON(w, http.StatusOK, struct {
		Repositories []string `json:"repositories"`
	}{out})
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
