package restapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/meta"
)

// Paging as Harbor does it: page (from 1, default 1) and page_size
// (default 10, at most 100) in the query; the answer carries X-Total-Count
// and a Link header with rel="prev" and rel="next" where they exist.
const (
	defaultPageSize = 10
	maxPageSize     = 100
)

// paging is one requested page.
type paging struct {
	page, size int
}

// meta returns the store's view of the page.
func (p paging) meta() meta.Page { return meta.Page{Offset: (p.page - 1) * p.size, Limit: p.size} }

// parsePaging reads page and page_size. Not positive integers, or a
// page_size above 100: BAD_REQUEST.
func parsePaging(r *http.Request) (paging, error) {
	p := paging{page: 1, size: defaultPageSize}
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return paging{}, errBadRequest("page must be a positive integer, got %q", truncate(v, 20))
		}
		p.page = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return paging{}, errBadRequest("page_size must be an integer from 1 to %d, got %q", maxPageSize, truncate(v, 20))
		}
		p.size = n
	}
	// Keep offsets representable on every engine.
	if p.page > (1<<31)/p.size {
		return paging{}, errBadRequest("page %d is out of range", p.page)
	}
	return p, nil
}

// setPagingHeaders sets X-Total-Count and Link for page p of total items.
// The links keep the request's other query parameters.
func setPagingHeaders(w http.ResponseWriter, r *http.Request, p paging, total int) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	var links []string
	link := func(page int, rel string) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page))
		q.Set("page_size", strconv.Itoa(p.size))
		u := url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
		links = append(links, "<"+u.String()+`>; rel="`+rel+`"`)
	}
	if p.page > 1 && total > 0 {
		link(min(p.page-1, (total+p.size-1)/p.size), "prev")
	}
	if p.page*p.size < total {
		link(p.page+1, "next")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
}
