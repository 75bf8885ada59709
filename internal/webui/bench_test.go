package webui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkRepositoryPage measures the server time of a repository page's
// first page (SQLite, in-process, no network) for a repository with
// 10,000 tags: 10,000 tagged artifacts, and one artifact carrying 10,000
// tags. It prints ms/page.
//
//	go test -run '^$' -bench RepositoryPage ./internal/webui/
func BenchmarkRepositoryPage(b *testing.B) {
	const n = 10000
	cases := []struct {
		name  string
		fill  func(e *env)
		paths []string
	}{
		{"10000 artifacts of one tag", func(e *env) {
			for i := range n {
				e.pushImage("p/big", fmt.Sprint(i), nil, fmt.Sprintf("v%05d", i))
			}
		}, []string{"/repositories/p/big", "/repositories/p/big?page=200", "/projects/p"}},
		{"one artifact of 10000 tags", func(e *env) {
			tags := make([]string, n)
			for i := range tags {
				tags[i] = fmt.Sprintf("t%05d", i)
			}
			e.pushImage("p/big", "one", nil, tags...)
		}, []string{"/repositories/p/big"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b)
			e.addProject("p", false)
			start := time.Now()
			c.fill(e)
			b.Logf("filled in %s", time.Since(start).Round(time.Millisecond))
			cookies := e.login("admin", adminPassword).http.Jar.Cookies(mustURL(b, e.srv.URL))
			h := e.srv.Config.Handler
			for _, path := range c.paths {
				b.Run(strings.TrimPrefix(path, "/repositories/"), func(b *testing.B) {
					for b.Loop() {
						req := httptest.NewRequest(http.MethodGet, path, nil)
						for _, ck := range cookies {
							req.AddCookie(ck)
						}
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: %d", path, rec.Code)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
				})
			}
		})
	}
}
