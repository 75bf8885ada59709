package distapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// pageParams reads ?n= and ?last=. Without n a page holds max entries
// (registry.MaxTagPage for tags, registry.MaxListLimit otherwise); a larger
// n is clamped to it (the spec lets a registry return fewer than n) and a
// Link header leads on.
func pageParams(r *http.Request, max int) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	if len(last) > 512 {
		return 0, "", newError("PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "last is longer than 512 characters")
	}
	ns := q.Get("n")
	if ns == "" {
		return max, last, nil
	}
	v, perr := strconv.ParseInt(ns, 10, 64)
	if perr != nil || v < 0 {
		return 0, "", newError("PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "n must be a non-negative integer, got %q", truncate(ns, 40))
	}
	if v > int64(max) {
		v = int64(max)
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
	n, last, err := pageParams(r, registry.MaxTagPage)
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
	if b, ok := appendTagList(nil, t.repo, tags); ok {
		writeJSONBytes(w, http.StatusOK, b)
		return nil
	}
	writeJSON(w, http.StatusOK, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{t.repo, tags})
	return nil
}

// appendTagList appends the tags/list body of repo to b as encoding/json
// would write it, without reflection or an allocation per tag: a page of
// 1,000 tags is the whole cost of a request served from the registry's
// tag list. It reports false when a string would need escaping (names and
// tags that passed validation never do): encoding/json then writes it.
func appendTagList(b []byte, repo string, tags []string) ([]byte, bool) {
	size := len(repo) + 24
	for _, t := range tags {
		size += len(t) + 3
	}
	b = slices.Grow(b, size)
	b = append(b, `{"name":"`...)
	if !plainJSON(repo) {
		return nil, false
	}
	b = append(b, repo...)
	b = append(b, `","tags":[`...)
	for i, t := range tags {
		if !plainJSON(t) {
			return nil, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, t...)
		b = append(b, '"')
	}
	return append(b, "]}"...), true
}

// plainJSON reports whether s is a JSON string's content as it stands:
// printable ASCII without '"', '\\' or the characters encoding/json escapes
// for HTML ('<', '>', '&').
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// maxCatalogScan bounds how many batches of repositories (of
// registry.MaxListLimit each) one catalog request reads while filtering
// out those the caller may not see.
const maxCatalogScan = 10

// catalog lists the repositories the caller may pull, n at a time.
//
// Nothing in the answer may come from a repository the caller cannot see:
// the Link cursor is the last repository of the page, and a Link is sent
// only when another visible repository follows it, so neither the cursor
// nor the presence of a Link tells of hidden ones. Hidden repositories
// are skipped a project at a time (visibility is per project). When the
// scan budget runs out before the page fills, the page ends at the last
// visible repository found (with a Link, since the scan was cut short);
// when it found none, the listing ends there.
func (a *API) catalog(w http.ResponseWriter, r *http.Request, _ target) error {
	n, last, err := pageParams(r, registry.MaxListLimit)
	if err != nil {
		return err
	}
	ctx := r.Context()
	out := []string{}
	more := false // a visible repository follows out, or the scan was cut short
	cursor := last
	for scan := 0; n > 0; scan++ {
		if scan == maxCatalogScan {
			more = len(out) > 0
			break
		}
		repos, m, err := a.registry.Catalog(ctx, cursor, registry.MaxListLimit)
		if err != nil {
			return err
		}
		vis, err := a.opts.Auth.FilterVisible(ctx, repos)
		if err != nil {
			return err
		}
		if len(out)+len(vis) > n {
			out, more = append(out, vis[:n-len(out)]...), true
			break
		}
		out = append(out, vis...)
		if !m || len(repos) == 0 {
			break
		}
		cursor = nextCatalogCursor(repos[len(repos)-1], vis)
	}
	if more {
		setNextLink(w, "/v2/_catalog", n, out[len(out)-1])
	}
	writeJSON(w, http.StatusOK, struct {
		Repositories []string `json:"repositories"`
	}{out})
	return nil
}

// nextCatalogCursor returns where the catalog scan goes on after a batch
// that ended with repository lastScanned, of which vis were visible. It is
// never shown to the caller. A hidden last repository's whole project is
// skipped: every name between "p/x" and "p/~" belongs to project p ('~'
// sorts after every character a name may hold).
func nextCatalogCursor(lastScanned string, vis []string) string {
	if len(vis) > 0 && vis[len(vis)-1] == lastScanned {
		return lastScanned
	}
	if project, _, ok := strings.Cut(lastScanned, "/"); ok {
		return project + "/~"
	}
	return lastScanned
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
