package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client speaks the Distribution API to one server.
type client struct {
	s  *Server
	hc *http.Client
}

func newClient(s *Server) *client {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &client{s: s, hc: &http.Client{Transport: tr}}
}

func (c *client) do(ctx context.Context, method, path string, body io.Reader, size int64, hdr map[string]string) (*http.Response, error) {
	u := path
	if !strings.HasPrefix(u, "http") {
		u = c.s.URL + path
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c.s.auth(req)
	return c.hc.Do(req)
}

// expect runs a request and checks its status, draining the body.
func (c *client) expect(ctx context.Context, want int, method, path string, body io.Reader, size int64, hdr map[string]string) (*http.Response, error) {
	resp, err := c.do(ctx, method, path, body, size, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp, nil
}

func (c *client) location(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = c.s.URL + loc
	}
	return loc
}

func withQuery(u, k, v string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + k + "=" + url.QueryEscape(v)
}

// pushBlob uploads a blob (POST, then one PUT), skipping it when a HEAD
// finds it (as clients do).
func (c *client) pushBlob(ctx context.Context, repo, dgst string, size int64, body func() io.Reader, skipHead bool) error {
	if !skipHead {
		resp, err := c.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+dgst, nil, 0, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	resp, err := c.expect(ctx, http.StatusAccepted, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, 0, nil)
	if err != nil {
		return err
	}
	_, err = c.expect(ctx, http.StatusCreated, http.MethodPut, withQuery(c.location(resp), "digest", dgst), body(), size,
		map[string]string{"Content-Type": "application/octet-stream"})
	return err
}

// mountBlob mounts a blob from another repository (201), or uploads
// nothing and reports false when the server starts an upload instead.
func (c *client) mountBlob(ctx context.Context, repo, from, dgst string) error {
	resp, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+dgst+"&from="+from, nil, 0, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("mount %s into %s: HTTP %d", dgst, repo, resp.StatusCode)
	}
	return nil
}

const manifestType = "application/vnd.oci.image.manifest.v1+json"

func (c *client) putManifest(ctx context.Context, repo, ref string, payload []byte) error {
	_, err := c.expect(ctx, http.StatusCreated, http.MethodPut, "/v2/"+repo+"/manifests/"+ref,
		strings.NewReader(string(payload)), int64(len(payload)), map[string]string{"Content-Type": manifestType})
	return err
}

// listAll GETs path and follows Link headers; returns the number of entries.
func (c *client) listAll(ctx context.Context, path, field string, maxPages int) (int, error) {
	total := 0
	next := path
	for pages := 0; next != "" && (maxPages <= 0 || pages < maxPages); pages++ {
		resp, err := c.do(ctx, http.MethodGet, next, nil, 0, nil)
		if err != nil {
			return 0, err
		}
		// One pass that validates the body and counts the list's
		// entries without making a string of each: decoding every tag
		// (twice, before) cost the client more than a cached page costs
		// the server.
		var body map[string]countedList
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return 0, fmt.Errorf("GET %s: HTTP %d (%v)", next, resp.StatusCode, err)
		}
		total += int(body[field])
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			if i, j := strings.Index(l, "<"), strings.Index(l, ">"); i >= 0 && j > i {
				next = l[i+1 : j]
			}
		}
	}
	return total, nil
}

// countedList is a JSON value that decodes to the number of entries when
// it is an array (encoding/json has checked its syntax before
// UnmarshalJSON sees it) and to 0 otherwise.
type countedList int

func (c *countedList) UnmarshalJSON(b []byte) error {
	*c = 0
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	depth, inString, escaped, empty := 0, false, false, true
	for _, ch := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
			continue
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			continue
		case ch == ',':
			if depth == 1 {
				*c++
			}
			continue
		case ch == ']' || ch == '}':
			depth--
			continue
		}
		if depth == 1 {
			empty = false
		}
		switch ch {
		case '"':
			inString = true
		case '[', '{':
			depth++
		}
	}
	if !empty {
		*c++
	}
	return nil
}

// token fetches a Bearer token for scope from Berth's token service.
func (c *client) token(ctx context.Context, scope string) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/service/token?service=berth&scope="+url.QueryEscape(scope), nil, 0, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var t struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.Token == "" {
		return "", fmt.Errorf("token: HTTP %d (%v)", resp.StatusCode, err)
	}
	return t.Token, nil
}

// blob is random content made on the fly from a seed (never held whole).
type blob struct {
	seed uint64
	size int64
	dgst string
}

func newBlob(seed uint64, size int64) blob {
	b := blob{seed: seed, size: size}
	h := sha256.New()
	_, _ = io.Copy(h, b.reader())
	b.dgst = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return b
}

func (b blob) reader() io.Reader {
	var key [32]byte
	key[0], key[1] = byte(b.seed), byte(b.seed>>8)
	key[2], key[3] = byte(b.seed>>16), byte(b.seed>>24)
	return io.LimitReader(rand.NewChaCha8(key), b.size)
}

// imageManifest is an OCI manifest over config and layers.
func imageManifest(config blob, layers ...blob) []byte {
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, manifestType, desc{"application/vnd.oci.image.config.v1+json", config.dgst, config.size}, []desc{}}
	for _, l := range layers {
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", l.dgst, l.size})
	}
	b, _ := json.Marshal(m)
	return b
}
