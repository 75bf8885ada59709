package hatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// regClient speaks just enough of the distribution API for these tests:
// chunked blob uploads, manifest pushes and verified pulls, each request a
// separate HTTP request. It authenticates as docker does: a 401 with a
// Bearer challenge is answered with a token for the repository, fetched
// from the realm with the admin's Basic credentials and kept per repository
// (and fetched again when a token expires); a Basic challenge switches it to
// Basic credentials.
type regClient struct {
	hc   *http.Client
	user string
	pass string

	mu       sync.Mutex
	basic    bool                       // the registry asked for Basic credentials
	tokens   map[string]string          // Bearer token by repository
	servedBy map[string]int             // successful responses by replica (X-Served-By)
	uploads  map[string]map[string]bool // upload session -> replicas that served it

	resumes    map[string]int // probeResume outcomes: ok, failed
	resumeErrs []string
}

func newRegClient() *regClient {
	return &regClient{
		hc: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		},
		user: adminUser, pass: adminPassword,
		tokens: map[string]string{}, servedBy: map[string]int{}, resumes: map[string]int{},
		uploads: map[string]map[string]bool{},
	}
}

// reqError is one failed request: a transport error, or an HTTP status
// the step did not expect.
type reqError struct {
	Step     string // e.g. "PATCH chunk 3/5"
	Method   string
	URL      string
	ReqID    string
	Status   int    // 0: transport error
	Code     string // OCI error code from the body, if any
	Body     string // first line of the body
	ServedBy string // haproxy's X-Served-By
	Err      error  // transport error
	Unclean  string // why the answer breaks the protocol ("" if it does not)
}

func (e *reqError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s (X-Request-Id %s", e.Step, e.Method, e.URL, e.ReqID)
	if e.ServedBy != "" {
		fmt.Fprintf(&b, ", served by %s", e.ServedBy)
	}
	b.WriteString("): ")
	switch {
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		fmt.Fprintf(&b, "%d %s %s", e.Status, e.Code, e.Body)
	}
	if e.Unclean != "" {
		b.WriteString(" [UNCLEAN: " + e.Unclean + "]")
	}
	return b.String()
}

// Class sorts a failure for the figures: conn, timeout, lb (haproxy's own
// 502/503/504), 5xx and 4xx (with an OCI error body), or unclean.
func (e *reqError) Class() string {
	switch {
	case e.Unclean != "":
		return "unclean"
	case e.Err != nil && isTimeout(e.Err):
		return "timeout"
	case e.Err != nil:
		return "conn"
	case e.Code == "" && (e.Status == 502 || e.Status == 503 || e.Status == 504):
		return "lb"
	case e.Status >= 500:
		return "5xx"
	default:
		return "4xx"
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &te) && te.Timeout())
}

// call is one request of a push or pull.
type call struct {
	step   string
	method string
	url    string
	reqID  string
	header http.Header
	body   []byte
	want   int // expected status
}

// do sends c and returns the response with its body unread when the
// status is c.want; otherwise a *reqError (the body is consumed).
func (rc *regClient) do(ctx context.Context, c call) (*http.Response, error) {
	repo := repoOf(c.url)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, c.method, c.url, bytes.NewReader(c.body))
		if err != nil {
			return nil, err
		}
		for k, v := range c.header {
			req.Header[k] = v
		}
		req.Header.Set("X-Request-Id", c.reqID)
		tok, basic := rc.credentials(repo)
		switch {
		case tok != "":
			req.Header.Set("Authorization", "Bearer "+tok)
		case basic:
			req.SetBasicAuth(rc.user, rc.pass)
		}
		res, err := rc.hc.Do(req)
		if err != nil {
			return nil, &reqError{Step: c.step, Method: c.method, URL: c.url, ReqID: c.reqID, Err: err}
		}
		if res.StatusCode == c.want {
			if s := res.Header.Get("X-Served-By"); s != "" {
				rc.mu.Lock()
				rc.servedBy[s]++
				if id := uploadID(c.url, res.Header.Get("Location")); id != "" {
					if rc.uploads[id] == nil {
						rc.uploads[id] = map[string]bool{}
					}
					rc.uploads[id][s] = true
				}
				rc.mu.Unlock()
			}
			return res, nil
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		if res.StatusCode == http.StatusUnauthorized && attempt == 0 {
			ch := res.Header.Get("WWW-Authenticate")
			switch {
			case strings.HasPrefix(strings.ToLower(ch), "bearer "):
				if err := rc.fetchToken(ctx, repo, ch); err != nil {
					return nil, &reqError{Step: c.step + " (token)", Method: c.method, URL: c.url, ReqID: c.reqID, Err: err}
				}
				continue
			case strings.HasPrefix(strings.ToLower(ch), "basic") && !basic:
				rc.mu.Lock()
				rc.basic = true
				rc.mu.Unlock()
				continue
			}
		}
		e := &reqError{Step: c.step, Method: c.method, URL: c.url, ReqID: c.reqID, Status: res.StatusCode,
			Body: firstLine(body), ServedBy: res.Header.Get("X-Served-By")}
		var oe struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if json.Unmarshal(body, &oe) == nil && len(oe.Errors) > 0 {
			e.Code = oe.Errors[0].Code
		}
		switch {
		case res.StatusCode < 400:
			e.Unclean = fmt.Sprintf("status %d, want %d", res.StatusCode, c.want)
		case e.Code == "" && e.ServedBy != "" && c.method != http.MethodHead:
			// Berth answered (haproxy added X-Served-By) an error
			// without an OCI error body.
			e.Unclean = "error status without an OCI error body"
		}
		return nil, e
	}
}

// protocolError reports a success response that breaks the protocol.
func protocolError(c call, res *http.Response, why string) error {
	return &reqError{Step: c.step, Method: c.method, URL: c.url, ReqID: c.reqID, Status: res.StatusCode,
		ServedBy: res.Header.Get("X-Served-By"), Unclean: why}
}

func (rc *regClient) credentials(repo string) (token string, basic bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tokens[repo], rc.basic
}

// fetchToken answers a Bearer challenge (realm, service, scope) with Basic
// credentials and remembers the token for repo.
func (rc *regClient) fetchToken(ctx context.Context, repo, challenge string) error {
	params := map[string]string{}
	for _, kv := range strings.Split(challenge[len("bearer "):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[strings.ToLower(k)] = strings.Trim(v, `"`)
	}
	u, err := url.Parse(params["realm"])
	if err != nil || params["realm"] == "" {
		return fmt.Errorf("bearer challenge without a realm: %q", challenge)
	}
	q := u.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	if repo != "" {
		q.Set("scope", "repository:"+repo+":pull,push,delete")
	} else if s := params["scope"]; s != "" {
		q.Set("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(rc.user, rc.pass)
	res, err := rc.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("token endpoint: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil {
		return fmt.Errorf("token endpoint: %w", err)
	}
	tok := tr.Token
	if tok == "" {
		tok = tr.AccessToken
	}
	rc.mu.Lock()
	rc.tokens[repo] = tok
	rc.mu.Unlock()
	return nil
}

// repoOf extracts <name> from /v2/<name>/{blobs,manifests,tags}/...
func repoOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	p := strings.TrimPrefix(u.Path, "/v2/")
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/"} {
		if i := strings.LastIndex(p, sep); i >= 0 {
			return p[:i]
		}
	}
	return ""
}

// uploadID is the upload session a request or its Location names, or "".
func uploadID(reqURL, loc string) string {
	for _, s := range []string{loc, reqURL} {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		if _, id, ok := strings.Cut(u.Path, "/blobs/uploads/"); ok && id != "" {
			return id
		}
	}
	return ""
}

// resolve makes a Location header absolute against the request URL.
func resolve(base, loc string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(l).String(), nil
}

// ---- push ----

// image is a test image whose content is derived from seed, so every
// attempt pushes the same bytes.
type image struct {
	repo, tag  string
	seed       uint64
	layerSizes []int
}

type builtImage struct {
	config    []byte
	layers    [][]byte
	manifest  []byte
	mdigest   digest.Digest
	blobs     []ocispec.Descriptor // config first
	chunkSize func() int
}

const layerMediaType = "application/vnd.oci.image.layer.v1.tar"

func (im image) build() builtImage {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(im.seed >> (8 * i))
	}
	rng := rand.NewChaCha8(key)
	var b builtImage
	var diffIDs []digest.Digest
	for _, n := range im.layerSizes {
		l := make([]byte, n)
		_, _ = rng.Read(l)
		b.layers = append(b.layers, l)
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Labels: map[string]string{"hatest.image": im.repo + ":" + im.tag}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	b.config, _ = json.Marshal(cfg)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(b.config), Size: int64(len(b.config))},
	}
	b.blobs = append(b.blobs, m.Config)
	for _, l := range b.layers {
		d := ocispec.Descriptor{MediaType: layerMediaType, Digest: digest.FromBytes(l), Size: int64(len(l))}
		m.Layers = append(m.Layers, d)
		b.blobs = append(b.blobs, d)
	}
	b.manifest, _ = json.Marshal(m)
	b.mdigest = digest.FromBytes(b.manifest)
	// Chunks of 0.75–1.25 MiB: boundaries never line up with S3 parts.
	crng := rand.New(rand.NewPCG(im.seed, 7))
	b.chunkSize = func() int { return 768<<10 + crng.IntN(512<<10) }
	return b
}

func (b builtImage) blob(i int) []byte {
	if i == 0 {
		return b.config
	}
	return b.layers[i-1]
}

// pushImage pushes every blob as a chunked upload (POST, PATCH per chunk,
// PUT) and then the manifest by tag, each a separate request to base.
// reqPrefix names the attempt in X-Request-Id.
func (rc *regClient) pushImage(ctx context.Context, base string, im image, b builtImage, reqPrefix string) error {
	seq := 0
	id := func() string { seq++; return fmt.Sprintf("%s-%03d", reqPrefix, seq) }
	for i, desc := range b.blobs {
		if err := rc.pushBlobChunked(ctx, base, im.repo, desc, b.blob(i), b.chunkSize, fmt.Sprintf("blob %d/%d", i+1, len(b.blobs)), id); err != nil {
			return err
		}
	}
	c := call{step: "PUT manifest", method: http.MethodPut, url: base + "/v2/" + im.repo + "/manifests/" + im.tag,
		reqID: id(), header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, body: b.manifest, want: http.StatusCreated}
	res, err := rc.do(ctx, c)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if got := res.Header.Get("Docker-Content-Digest"); got != b.mdigest.String() {
		return protocolError(c, res, fmt.Sprintf("Docker-Content-Digest %q, want %s", got, b.mdigest))
	}
	return nil
}

func (rc *regClient) pushBlobChunked(ctx context.Context, base, repo string, desc ocispec.Descriptor, data []byte, chunk func() int, what string, id func() string) error {
	c := call{step: what + " POST", method: http.MethodPost, url: base + "/v2/" + repo + "/blobs/uploads/", reqID: id(), want: http.StatusAccepted}
	res, err := rc.do(ctx, c)
	if err != nil {
		return err
	}
	res.Body.Close()
	loc, err := uploadLocation(c, res)
	if err != nil {
		return err
	}
	loc, err = rc.sendChunks(ctx, loc, data, 0, chunk, what, id)
	if err != nil {
		var re *reqError
		if errors.As(err, &re) && strings.Contains(re.Step, "PATCH") && (re.Class() == "conn" || re.Class() == "lb") {
			rc.probeResume(ctx, re, desc, data, chunk, what, id)
		}
		return err
	}
	return rc.finishUpload(ctx, loc, desc, what, id)
}

// sendChunks PATCHes data[from:] in chunks and returns the next Location.
func (rc *regClient) sendChunks(ctx context.Context, loc string, data []byte, from int, chunk func() int, what string, id func() string) (string, error) {
	nchunks := 0
	for off := from; off < len(data); {
		end := min(off+chunk(), len(data))
		nchunks++
		c := call{step: fmt.Sprintf("%s PATCH chunk %d (%d-%d)", what, nchunks, off, end-1), method: http.MethodPatch, url: loc, reqID: id(),
			header: http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {fmt.Sprintf("%d-%d", off, end-1)}},
			body:   data[off:end], want: http.StatusAccepted}
		res, err := rc.do(ctx, c)
		if err != nil {
			return loc, err
		}
		res.Body.Close()
		if r := res.Header.Get("Range"); r != "0-"+strconv.Itoa(end-1) {
			return loc, protocolError(c, res, fmt.Sprintf("Range %q after the chunk, want 0-%d", r, end-1))
		}
		if loc, err = uploadLocation(c, res); err != nil {
			return loc, err
		}
		off = end
	}
	return loc, nil
}

func (rc *regClient) finishUpload(ctx context.Context, loc string, desc ocispec.Descriptor, what string, id func() string) error {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	c := call{step: what + " PUT", method: http.MethodPut, url: loc + sep + "digest=" + url.QueryEscape(desc.Digest.String()), reqID: id(), want: http.StatusCreated}
	res, err := rc.do(ctx, c)
	if err != nil {
		return err
	}
	res.Body.Close()
	if got := res.Header.Get("Docker-Content-Digest"); got != desc.Digest.String() {
		return protocolError(c, res, fmt.Sprintf("Docker-Content-Digest %q, want %s", got, desc.Digest))
	}
	return nil
}

// probeResume checks, after a PATCH was cut off (its replica died), that
// the session can still be continued on whichever replica answers: GET its
// status, PATCH the rest from the offset it reports, PUT. The push attempt
// fails anyway (the whole image is retried); the probe's outcome is only
// recorded in rc.resumes, with the request sequence when it fails.
func (rc *regClient) probeResume(ctx context.Context, cut *reqError, desc ocispec.Descriptor, data []byte, chunk func() int, what string, id func() string) {
	what += " resume"
	err := func() error {
		c := call{step: what + " GET status", method: http.MethodGet, url: cut.URL, reqID: id(), want: http.StatusNoContent}
		res, err := rc.do(ctx, c)
		// Until haproxy has marked the killed replica down (two failed
		// checks, 500 ms apart) it may still route there and answer 502
		// or 503; a client retries those, as docker does.
		for try := 0; err != nil && gatewayError(err) && try < 12 && ctx.Err() == nil; try++ {
			time.Sleep(250 * time.Millisecond)
			c.reqID = id()
			res, err = rc.do(ctx, c)
		}
		if err != nil {
			return err
		}
		res.Body.Close()
		r := res.Header.Get("Range")
		a, b, ok := strings.Cut(r, "-")
		end, err := strconv.Atoi(b)
		if !ok || a != "0" || err != nil || end >= len(data) {
			return protocolError(c, res, fmt.Sprintf("Range %q for a %d-byte blob", r, len(data)))
		}
		from := end + 1
		if end == 0 {
			from = 0 // "0-0" is what Berth reports for an empty session
		}
		loc, err := uploadLocation(c, res)
		if err != nil {
			return err
		}
		if loc, err = rc.sendChunks(ctx, loc, data, from, chunk, what+fmt.Sprintf(" from %d", from), id); err != nil {
			return err
		}
		return rc.finishUpload(ctx, loc, desc, what, id)
	}()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.resumes["failed"]++
		rc.resumeErrs = append(rc.resumeErrs, fmt.Sprintf("after %v: %v", cut, err))
	} else {
		rc.resumes["ok"]++
	}
}

func uploadLocation(c call, res *http.Response) (string, error) {
	loc := res.Header.Get("Location")
	if loc == "" {
		return "", protocolError(c, res, "no Location header")
	}
	u, err := resolve(c.url, loc)
	if err != nil {
		return "", protocolError(c, res, "bad Location: "+err.Error())
	}
	return u, nil
}

// ---- pull ----

// verifyImage pulls the manifest by tag and by digest and every blob from
// base, checking bytes and digests against what was pushed.
func (rc *regClient) verifyImage(ctx context.Context, base string, im image, b builtImage, reqPrefix string) error {
	accept := http.Header{"Accept": {ocispec.MediaTypeImageManifest}}
	for i, ref := range []string{im.tag, b.mdigest.String()} {
		c := call{step: "GET manifest " + ref, method: http.MethodGet, url: base + "/v2/" + im.repo + "/manifests/" + ref,
			reqID: fmt.Sprintf("%s-m%d", reqPrefix, i), header: accept, want: http.StatusOK}
		res, err := rc.do(ctx, c)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return &reqError{Step: c.step, Method: c.method, URL: c.url, ReqID: c.reqID, Err: err}
		}
		if !bytes.Equal(got, b.manifest) {
			return protocolError(c, res, fmt.Sprintf("manifest bytes differ (%s, want %s)", digest.FromBytes(got), b.mdigest))
		}
		if d := res.Header.Get("Docker-Content-Digest"); d != b.mdigest.String() {
			return protocolError(c, res, fmt.Sprintf("Docker-Content-Digest %q, want %s", d, b.mdigest))
		}
	}
	for i, desc := range b.blobs {
		c := call{step: fmt.Sprintf("GET blob %d", i+1), method: http.MethodGet, url: base + "/v2/" + im.repo + "/blobs/" + desc.Digest.String(),
			reqID: fmt.Sprintf("%s-b%d", reqPrefix, i), want: http.StatusOK}
		res, err := rc.do(ctx, c)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, res.Body)
		res.Body.Close()
		if err != nil {
			return &reqError{Step: c.step + " body", Method: c.method, URL: c.url, ReqID: c.reqID, Err: err}
		}
		if got := digest.NewDigest(digest.SHA256, h); got != desc.Digest || n != desc.Size {
			return protocolError(c, res, fmt.Sprintf("blob is %d bytes with digest %s, want %d bytes %s", n, got, desc.Size, desc.Digest))
		}
	}
	return nil
}

// gatewayError reports whether err is the load balancer's 502 or 503 for
// a replica it has not yet marked down.
func gatewayError(err error) bool {
	var re *reqError
	return errors.As(err, &re) && (re.Status == http.StatusBadGateway || re.Status == http.StatusServiceUnavailable)
}
