package webui

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
)

// usedKeys finds every message key the portal can show: the literal keys
// of the templates ({{.T "key"}}, {{$.T "key"}}) and of the Go code (page
// titles, error and notice keys, artifact kinds), plus the keys built at
// run time from a prefix (roles, robot permissions, health checks).
func usedKeys(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	tmplKey := regexp.MustCompile(`\.T "([a-zA-Z0-9_.:]+)"`)
	dynamic := regexp.MustCompile(`\.T \(print "([a-z]+\.)"`)
	prefixes := map[string]bool{}
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		for _, m := range tmplKey.FindAllStringSubmatch(string(raw), -1) {
			keys[m[1]] = true
		}
		for _, m := range dynamic.FindAllStringSubmatch(string(raw), -1) {
			prefixes[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Go literals that look like keys of a catalog namespace.
	cat, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	spaces := map[string]bool{}
	for k := range cat[languages[0]] {
		ns, _, _ := strings.Cut(k, ".")
		spaces[ns] = true
	}
	goKey := regexp.MustCompile(`"([a-z]+)\.([a-zA-Z0-9_.:]+)"`)
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		raw, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(raw), -1) {
			if spaces[m[1]] && !strings.HasSuffix(m[2], "json") && !strings.HasSuffix(m[2], "html") {
				keys[m[1]+"."+m[2]] = true
			}
		}
	}
	// Keys built from a prefix at run time.
	want := map[string][]string{"role.": {"sysadmin"}, "perm.": nil, "system.": {"database", "storage"}}
	for _, r := range access.Roles() {
		want["role."] = append(want["role."], r.String())
	}
	for _, p := range robotPermissions {
		want["perm."] = append(want["perm."], p.String())
	}
	for prefix := range prefixes {
		names, ok := want[prefix]
		if !ok {
			t.Errorf("templates build keys from %q: list its values in usedKeys", prefix)
		}
		for _, n := range names {
			keys[prefix+n] = true
		}
	}
	return keys
}

// TestCatalogsComplete fails on a key the portal uses that a language
// lacks, on keys one language has and another not, on empty texts and on
// keys nothing uses.
func TestCatalogsComplete(t *testing.T) {
	cats, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	used := usedKeys(t)
	if len(used) < 100 {
		t.Fatalf("found only %d used keys: the scan is broken", len(used))
	}
	for _, lang := range languages {
		c := cats[lang]
		for k := range used {
			if _, ok := c[k]; !ok {
				t.Errorf("%s: missing key %q", lang, k)
			}
		}
		for k, v := range c {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: key %q is empty", lang, k)
			}
			if !used[k] {
				t.Errorf("%s: key %q is not used", lang, k)
			}
			if strings.Count(v, "%") != strings.Count(cats[languages[0]][k], "%") {
				t.Errorf("%s: key %q has other format verbs than %s's", lang, k, languages[0])
			}
		}
	}
}

// TestMissingKeyShows: a key no catalog has shows as !key!, which the page
// tests look for.
func TestMissingKeyShows(t *testing.T) {
	if got := (catalog{}).T("no.such.key"); got != "!no.such.key!" {
		t.Errorf("T of a missing key = %q", got)
	}
}

// TestChooseLang: the cookie wins, then Accept-Language, then English.
func TestChooseLang(t *testing.T) {
	tests := []struct{ cookie, accept, want string }{
		{"", "", "en"},
		{"", "ko-KR,ko;q=0.9,en;q=0.8", "ko"},
		{"", "fr-FR, ko;q=0.5", "ko"},
		{"", "fr-FR", "en"},
		{"en", "ko", "en"},
		{"ko", "en-US", "ko"},
		{"xx", "ko", "ko"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.cookie != "" {
			r.Header.Set("Cookie", langCookie+"="+tt.cookie)
		}
		r.Header.Set("Accept-Language", tt.accept)
		if got := chooseLang(r); got != tt.want {
			t.Errorf("cookie %q, Accept-Language %q: %s, want %s", tt.cookie, tt.accept, got, tt.want)
		}
	}
	if !slices.Equal(languages, []string{"en", "ko"}) {
		t.Errorf("languages %v", languages)
	}
}
