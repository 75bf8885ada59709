package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxErrLen bounds every parser error message: errors reach clients and
// logs, so no input may make one grow with the input.
const maxErrLen = 1024

// minDescriptorLen is the fewest bytes of JSON a descriptor that passes
// checkDescriptor can take: a sha256 digest alone is 71 characters.
const minDescriptorLen = 71

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v does not match %v", err, want)
	}
	if n := len(err.Error()); n > maxErrLen {
		t.Fatalf("error message is %d bytes long (at most %d): %.200s...", n, maxErrLen, err)
	}
}

// FuzzParseManifest: a rejection is ErrManifestInvalid with a bounded
// message; an accepted manifest has a supported media type, the shape of
// that type, only valid digests, no more references than its size allows,
// and parses the same after a re-marshal (key order, spacing and escapes
// must not change what Berth understands).
func FuzzParseManifest(f *testing.F) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d1 + `","size":2}`
	for _, s := range []struct{ ct, body string }{
		{MediaTypeImageManifest, `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}}`},
		{"", `{"schemaVersion":2,"manifests":[]}`},
		{MediaTypeImageManifest + "; charset=utf-8", `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","config":` + cfg + `,"layers":[{"mediaType":"a/b","digest":"` + d2 + `","size":3,"urls":["u"]}]}`},
		{MediaTypeDockerManifestList, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifestList + `","manifests":[{"mediaType":"` + MediaTypeDockerManifest + `","digest":"` + d1 + `","size":5}]}`},
		{"", `{"schemaVersion":2,"artifactType":"x/y","config":` + cfg + `,"subject":{"mediaType":"m/n","digest":"` + d2 + `","size":9},"annotations":{"k":"v"}}`},
		{"application/json", `{"schemaVersion":1,"fsLayers":[]}`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p, err := ParseManifest(ct, body)
		if err != nil {
			checkErr(t, err, ErrManifestInvalid)
			return
		}
		checkParsed(t, p, len(body))

		var doc any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("accepted a manifest that is not JSON: %v", err)
		}
		re, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		p2, err := ParseManifest(ct, re)
		if err != nil {
			t.Fatalf("the re-marshalled manifest %s is refused: %v", re, err)
		}
		if diff := cmp.Diff(p, p2); diff != "" {
			t.Fatalf("the re-marshalled manifest parses differently (-first +second):\n%s", diff)
		}
	})
}

func checkParsed(t *testing.T, p ParsedManifest, size int) {
	t.Helper()
	switch p.MediaType {
	case MediaTypeImageManifest, MediaTypeDockerManifest:
		if p.Config == nil || len(p.Blobs) == 0 || p.Blobs[0] != p.Config.Digest {
			t.Fatalf("image manifest without its config first in Blobs: %+v", p)
		}
		if p.Manifests != nil || p.ArtifactType == "" {
			t.Fatalf("image manifest with manifests or without an artifact type: %+v", p)
		}
		if p.MediaType == MediaTypeDockerManifest && p.ArtifactType != p.Config.MediaType {
			t.Fatalf("Docker manifest with its own artifactType: %+v", p)
		}
	case MediaTypeImageIndex, MediaTypeDockerManifestList:
		if p.Config != nil || p.Blobs != nil {
			t.Fatalf("index with config or blobs: %+v", p)
		}
		if p.MediaType == MediaTypeDockerManifestList && p.ArtifactType != "" {
			t.Fatalf("Docker manifest list with an artifactType: %+v", p)
		}
	default:
		t.Fatalf("accepted media type %q", p.MediaType)
	}
	refs := append(append([]digest.Digest{}, p.Blobs...), p.Manifests...)
	if len(refs)*minDescriptorLen > size {
		t.Fatalf("%d references from %d bytes", len(refs), size)
	}
	for _, d := range refs {
		if _, err := ParseDigest(d.String()); err != nil {
			t.Fatalf("accepted a reference to the invalid digest %q", d)
		}
	}
	for _, d := range []*v1.Descriptor{p.Config, p.Subject} {
		if d == nil {
			continue
		}
		if _, err := ParseDigest(d.Digest.String()); err != nil || d.Size < 0 || d.MediaType == "" {
			t.Fatalf("accepted the invalid descriptor %+v", d)
		}
	}
}

// FuzzParseDigest: ParseDigest accepts exactly sha256 and sha512 digests
// with lower-case hex of the algorithm's length, returns them unchanged,
// and rejects everything else with ErrDigestInvalid. Formatting any
// content's digest and parsing it back round-trips.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{d1, digest.SHA512.FromString("x").String(), "sha384:" + strings.Repeat("a", 96), "sha256:" + strings.Repeat("A", 64), "sha256:", ":", "md5:abc", "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if specDigest(s) != (err == nil) {
			t.Fatalf("ParseDigest(%q) = %v; the grammar says valid=%v", s, err, specDigest(s))
		}
		if err != nil {
			checkErr(t, err, ErrDigestInvalid)
		} else if d.String() != s || !IsDigest(s) || ValidateTag(s) == nil {
			t.Fatalf("ParseDigest(%q) = %q (IsDigest %v)", s, d, IsDigest(s))
		}
		for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
			want := alg.FromString(s)
			got, err := ParseDigest(want.String())
			if err != nil || got != want {
				t.Fatalf("ParseDigest(%q) = %q, %v", want, got, err)
			}
		}
		a, err := ParseAlgorithm(s)
		switch {
		case s == "" || s == "sha256" || s == "sha512":
			if err != nil || (s != "" && string(a) != s) || (s == "" && a != digest.SHA256) {
				t.Fatalf("ParseAlgorithm(%q) = %q, %v", s, a, err)
			}
		default:
			checkErr(t, err, ErrDigestInvalid)
		}
	})
}

// specDigest is the digest grammar Berth accepts, written out by hand.
func specDigest(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	n := map[string]int{"sha256": 64, "sha512": 128}[alg]
	if n == 0 || len(hex) != n {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if !(hex[i] >= '0' && hex[i] <= '9' || hex[i] >= 'a' && hex[i] <= 'f') {
			return false
		}
	}
	return true
}

// FuzzValidateName: ValidateName accepts exactly the distribution-spec
// repository names (checked against a hand-written reading of the grammar,
// not the regular expression) of at most MaxNameLength bytes, and rejects
// the rest with ErrNameInvalid and a bounded message.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"a/b", "A", "a/../b", "a__b", "a___b", "a--b", "a.-b", "library/ubuntu", "a/", strings.Repeat("a", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateName(s)
		if want := specName(s); want != (err == nil) {
			t.Fatalf("ValidateName(%q) = %v; the grammar says valid=%v", s, err, want)
		}
		if err != nil {
			checkErr(t, err, ErrNameInvalid)
		}
	})
}

func specName(s string) bool {
	if s == "" || len(s) > MaxNameLength {
		return false
	}
	for _, c := range strings.Split(s, "/") {
		if !specComponent(c) {
			return false
		}
	}
	return true
}

// specComponent: runs of [a-z0-9] joined by ".", "_", "__" or one or more "-".
func specComponent(c string) bool {
	i := 0
	alnum := func() bool {
		start := i
		for i < len(c) && (c[i] >= 'a' && c[i] <= 'z' || c[i] >= '0' && c[i] <= '9') {
			i++
		}
		return i > start
	}
	if !alnum() {
		return false
	}
	for i < len(c) {
		switch {
		case c[i] == '.':
			i++
		case strings.HasPrefix(c[i:], "__"):
			i += 2
		case c[i] == '_':
			i++
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
		if !alnum() {
			return false
		}
	}
	return true
}

// FuzzReference: a manifest reference is a digest when IsDigest says so,
// else a tag. Tags follow the spec's grammar (hand-written check), never
// look like digests, and are rejected with ErrTagInvalid and a bounded
// message; no string is both a valid tag and a valid digest.
func FuzzReference(f *testing.F) {
	for _, s := range []string{"latest", "v1.0", "_x", "-x", ".x", d1, strings.Repeat("a", 128), strings.Repeat("a", 129), "a:b", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateTag(s)
		if want := specTag(s); want != (err == nil) {
			t.Fatalf("ValidateTag(%q) = %v; the grammar says valid=%v", s, err, want)
		}
		if err != nil {
			checkErr(t, err, ErrTagInvalid)
			return
		}
		if IsDigest(s) {
			t.Fatalf("the valid tag %q is taken for a digest", s)
		}
		if _, err := ParseDigest(s); err == nil {
			t.Fatalf("%q is both a tag and a digest", s)
		}
	})
}

func specTag(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// allocBytes reports how many bytes fn allocates.
func allocBytes(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestParsersBoundedOnLargeInput feeds each parser the largest input an
// edge lets through (a 4 MiB manifest, 64 KiB identifiers) and checks that
// it allocates in proportion and answers with a short error.
func TestParsersBoundedOnLargeInput(t *testing.T) {
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d2 + `","size":3},`
	n := (MaxManifestSize - 500) / len(layer)
	big := []byte(`{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","config":{"mediaType":"a/b","digest":"` + d1 + `","size":1},"layers":[` +
		strings.TrimSuffix(strings.Repeat(layer, n), ",") + `]}`)
	var p ParsedManifest
	var err error
	if got := allocBytes(func() { p, err = ParseManifest(MediaTypeImageManifest, big) }); got > 16*uint64(len(big)) {
		t.Errorf("a %d-byte manifest allocated %d bytes", len(big), got)
	}
	if err != nil || len(p.Blobs) != n+1 {
		t.Fatalf("large manifest: %d blobs, %v", len(p.Blobs), err)
	}

	huge := strings.Repeat("9", MaxManifestSize-100)
	for name, body := range map[string]string{
		"long number":     `{"schemaVersion":` + huge + `}`,
		"long media type": `{"schemaVersion":2,"mediaType":"` + huge + `"}`,
		"long digest":     `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:` + huge + `","size":1}}`,
		"deep nesting":    `{"schemaVersion":2,"annotations":` + strings.Repeat("[", 1<<20) + `}`,
	} {
		_, err := ParseManifest("", []byte(body))
		if !errors.Is(err, ErrManifestInvalid) || len(err.Error()) > maxErrLen {
			t.Errorf("%s: error of %d bytes: %.200s", name, len(err.Error()), err)
		}
	}
	long := strings.Repeat("a", 64<<10)
	for name, err := range map[string]error{
		"digest": func() error { _, err := ParseDigest("sha256:" + long); return err }(),
		"alg":    func() error { _, err := ParseAlgorithm(long); return err }(),
		"name":   ValidateName(long),
		"tag":    ValidateTag(long),
	} {
		if err == nil || len(err.Error()) > maxErrLen {
			t.Errorf("%s: %d-byte error for a %d-byte input", name, len(err.Error()), len(long))
		}
	}
}

// TestParseManifestAmbiguousKeys: encoding/json matches keys ignoring case
// and keeps the last duplicate, so a manifest naming a field twice means
// one thing to Berth and another to a case-sensitive client. Found by
// FuzzParseManifest's re-marshal check (testdata/fuzz/FuzzParseManifest).
func TestParseManifestAmbiguousKeys(t *testing.T) {
	cfg := `"config":{"mediaType":"a/b","digest":"` + d1 + `","size":1}`
	layers := func(key, d string) string { return `"` + key + `":[{"mediaType":"a/b","digest":"` + d + `","size":1}]` }
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"layers twice by case", `{"schemaVersion":2,` + cfg + `,` + layers("layers", d1) + `,` + layers("LAYERS", d2) + `}`, false},
		{"layers twice exactly", `{"schemaVersion":2,` + cfg + `,` + layers("layers", d1) + `,` + layers("layers", d2) + `}`, false},
		{"media type twice", `{"schemaVersion":2,"mediaType":"` + MediaTypeImageManifest + `","MediaType":"` + MediaTypeImageIndex + `","manifests":[]}`, false},
		{"digest twice in a descriptor", `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"` + d1 + `","Digest":"` + d2 + `","size":1}}`, false},
		{"long s folds to s", `{"schemaVersion":2,"ſchemaVersion":2,` + cfg + `}`, false},
		{"annotation keys differing in case", `{"schemaVersion":2,` + cfg + `,"annotations":{"a":"1","A":"2"}}`, true},
		{"annotation key twice", `{"schemaVersion":2,` + cfg + `,"annotations":{"a":"1","a":"2"}}`, false},
		{"same key in sibling objects", `{"schemaVersion":2,` + cfg + `,"layers":[{"mediaType":"a/b","digest":"` + d1 + `","size":1},{"mediaType":"a/b","digest":"` + d2 + `","size":1}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(MediaTypeImageManifest, []byte(tt.body))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrManifestInvalid) {
				t.Fatalf("err = %v, want ErrManifestInvalid", err)
			}
		})
	}
}
