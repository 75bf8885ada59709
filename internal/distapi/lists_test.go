package distapi

import (
	"encoding/json"
	"testing"
)

// tagListJSON is the body encoding/json writes for a tags/list page.
func tagListJSON(t testing.TB, repo string, tags []string) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{repo, tags})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAppendTagList: the hand-written tags/list body is byte for byte
// what encoding/json writes, and anything that would need escaping is
// left to encoding/json.
func TestAppendTagList(t *testing.T) {
	cases := []struct {
		name   string
		repo   string
		tags   []string
		wantOK bool
	}{
		{"empty", "library/app", []string{}, true},
		{"one", "library/app", []string{"v1"}, true},
		{"valid tags", "a/b-c_d.e", []string{"1.0", "latest", "sha256-abc.sig", "V_2-rc.1", "_x"}, true},
		{"quote", "library/app", []string{`a"b`}, false},
		{"backslash", "library/app", []string{`a\b`}, false},
		{"html", "library/app", []string{"a<b", "c>d", "e&f"}, false},
		{"control", "library/app", []string{"a\nb"}, false},
		{"non-ASCII", "library/app", []string{"é"}, false},
		{"repo needs escaping", `li"b/app`, []string{"v1"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := appendTagList(nil, tc.repo, tc.tags)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if ok {
				if want := tagListJSON(t, tc.repo, tc.tags); string(b) != want {
					t.Errorf("body\n%s\nwant\n%s", b, want)
				}
			}
		})
	}
}

// FuzzAppendTagList: whatever the strings, a body written by hand is the
// one encoding/json writes.
func FuzzAppendTagList(f *testing.F) {
	f.Add("library/app", "v1", "latest")
	f.Add("a", `x"y`, "")
	f.Fuzz(func(t *testing.T, repo, t1, t2 string) {
		tags := []string{t1, t2}
		b, ok := appendTagList(nil, repo, tags)
		if !ok {
			return
		}
		if want := tagListJSON(t, repo, tags); string(b) != want {
			t.Errorf("body\n%s\nwant\n%s", b, want)
		}
	})
}
