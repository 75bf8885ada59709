package replication

import (
	"errors"
	"strings"
	"testing"
)

func TestKeyringRotation(t *testing.T) {
	oldKey := []byte(strings.Repeat("o", 32))
	newKey := []byte(strings.Repeat("n", 32))
	old, err := NewKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal("s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "s3cret") {
		t.Fatalf("sealed text %q holds the secret", sealed)
	}
	again, _ := old.Seal("s3cret-value")
	if again == sealed {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
	rotated, err := NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Current(sealed) {
		t.Fatal("a secret sealed with the old key counts as current")
	}
	got, err := rotated.Open(sealed)
	if err != nil || got != "s3cret-value" {
		t.Fatalf("rotated keyring opens the old secret: %q, %v", got, err)
	}
	resealed, _ := rotated.Seal(got)
	if !rotated.Current(resealed) {
		t.Fatal("a fresh seal is not under the newest key")
	}
	onlyNew, _ := NewKeyring(newKey)
	if _, err := onlyNew.Open(sealed); !errors.Is(err, ErrNoKey) {
		t.Fatalf("keyring without the old key: %v, want ErrNoKey", err)
	}
	if v, err := onlyNew.Open(resealed); err != nil || v != "s3cret-value" {
		t.Fatalf("open resealed: %q, %v", v, err)
	}
	tampered := resealed[:len(resealed)-2] + "AA"
	if _, err := onlyNew.Open(tampered); err == nil {
		t.Fatal("a tampered secret opened")
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"**", "a/b/c", true},
		{"library/*", "library/nginx", true},
		{"library/*", "library/a/nginx", false},
		{"library/**", "library/a/nginx", true},
		{"v1.?", "v1.2", true},
		{"v1.?", "v1.22", false},
		{"{alpine,nginx}", "nginx", true},
		{"{alpine,nginx}", "redis", false},
		{"lib/{a*,b/**}", "lib/b/c/d", true},
		{"lib/{a*,b/**}", "lib/abc", true},
		{"lib/{a*,b/**}", "lib/c", false},
		{"1.2.3", "1x2x3", false},
		{"a,b", "a,b", true},
	} {
		re, err := Pattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := re.MatchString(tc.s); got != tc.want {
			t.Errorf("Pattern(%q).Match(%q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
	for _, bad := range []string{"{a,b", "a}", strings.Repeat("a", 300)} {
		if _, err := Pattern(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Pattern(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestFiltersExclude(t *testing.T) {
	c, err := compileFilters([]Filter{
		{Type: FilterName, Value: []byte(`"proj/**"`)},
		{Type: FilterTag, Value: []byte(`"v*"`)},
		{Type: FilterTag, Value: []byte(`"*-rc"`), Decoration: DecorationExcludes},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		repo, tag string
		want      bool
	}{
		{"proj/app", "v1", true},
		{"proj/app", "v1-rc", false},
		{"proj/app", "latest", false},
		{"other/app", "v1", false},
	} {
		if got := matchAll(c.names, tc.repo) && matchAll(c.tags, tc.tag); got != tc.want {
			t.Errorf("%s:%s passes = %v, want %v", tc.repo, tc.tag, got, tc.want)
		}
	}
	if _, err := compileFilters([]Filter{{Type: "bogus", Value: []byte(`"x"`)}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown filter type: %v", err)
	}
}

func TestDestRepo(t *testing.T) {
	for _, tc := range []struct {
		ns    string
		count int
		src   string
		want  string
	}{
		{"", -1, "a/b/c/img", "a/b/c/img"},
		{"ns", -1, "a/b/c/img", "ns/b/c/img"},
		{"ns", 0, "a/b/c/img", "ns/a/b/c/img"},
		{"ns", 1, "a/b/c/img", "ns/b/c/img"},
		{"ns", 2, "a/b/c/img", "ns/c/img"},
		{"ns", 9, "a/b/c/img", "ns/img"},
		{"ns", -1, "img", "ns/img"},
	} {
		if got := destRepo(Policy{DestNamespace: tc.ns, DestReplaceCount: tc.count}, tc.src); got != tc.want {
			t.Errorf("destRepo(%q, %d, %q) = %q, want %q", tc.ns, tc.count, tc.src, got, tc.want)
		}
	}
}

func TestLabelFilters(t *testing.T) {
	c, err := compileFilters([]Filter{
		{Type: FilterLabel, Value: []byte(`["release"]`)},
		{Type: FilterLabel, Value: []byte(`["release","beta"]`), Decoration: DecorationExcludes},
		{Type: FilterLabel, Value: []byte(`[]`)}, // Harbor: an empty filter keeps everything
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels []string
		want   bool
	}{
		{nil, false},
		{[]string{"release"}, true},
		{[]string{"release", "other"}, true},
		{[]string{"release", "beta"}, false},
		{[]string{"beta"}, false},
	} {
		if got := c.labelsPass(tc.labels); got != tc.want {
			t.Errorf("labels %v pass = %v, want %v", tc.labels, got, tc.want)
		}
	}
	only, _ := compileFilters([]Filter{{Type: FilterLabel, Value: []byte(`["a","b"]`), Decoration: DecorationExcludes}})
	if !only.labelsPass([]string{"a"}) || only.labelsPass([]string{"b", "a"}) {
		t.Error("excludes drops only an artifact carrying every label of the filter")
	}
	for _, bad := range []string{`"release"`, `[""]`} {
		if _, err := compileFilters([]Filter{{Type: FilterLabel, Value: []byte(bad)}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("label filter %s: %v, want ErrInvalid", bad, err)
		}
	}
}
