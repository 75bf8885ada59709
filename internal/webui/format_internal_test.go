package webui

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Now()
	type kn struct {
		key string
		n   int
	}
	for d, want := range map[time.Duration]kn{10 * time.Second: {"time.now", 0}, 5 * time.Minute: {"time.minutes", 5},
		3 * time.Hour: {"time.hours", 3}, 72 * time.Hour: {"time.days", 3}} {
		if k, n := ago(now.Add(-d), now); k != want.key || n != want.n {
			t.Errorf("ago(-%s) = %s %d, want %v", d, k, n, want)
		}
	}
	if k, _ := ago(time.Time{}, now); k != "" {
		t.Errorf("ago(zero) = %q", k)
	}
}

func TestKindOf(t *testing.T) {
	const manifest = "application/vnd.oci.image.manifest.v1+json"
	tests := []struct{ mediaType, artifactType, want string }{
		{manifest, "application/vnd.oci.image.config.v1+json", "kind.image"},
		{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json", "kind.image"},
		{"application/vnd.oci.image.index.v1+json", "", "kind.index"},
		{"application/vnd.docker.distribution.manifest.list.v2+json", "", "kind.index"},
		{manifest, "application/vnd.cncf.helm.config.v1+json", "kind.chart"},
		{manifest, "application/vnd.dev.cosign.artifact.sig.v1+json", "kind.signature"},
		{manifest, "application/vnd.cncf.notary.signature", "kind.signature"},
		{manifest, "application/spdx+json", "kind.sbom"},
		{manifest, "application/vnd.cyclonedx+json", "kind.sbom"},
		{manifest, "application/vnd.in-toto+json", "kind.attestation"},
		{manifest, "application/vnd.example.thing", "kind.other"},
	}
	for _, tt := range tests {
		if got := kindOf(tt.mediaType, tt.artifactType); got != tt.want {
			t.Errorf("kindOf(%s, %s) = %s, want %s", tt.mediaType, tt.artifactType, got, tt.want)
		}
	}
}

func TestPlatforms(t *testing.T) {
	idx := `{"manifests":[{"platform":{"os":"linux","architecture":"amd64"}},{"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
		{"platform":{"os":"unknown","architecture":"unknown"}},{}]}`
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm/v7"}, platforms([]byte(idx))); diff != "" {
		t.Error(diff)
	}
	if got := platforms([]byte("not json")); got != nil {
		t.Errorf("platforms of garbage: %v", got)
	}
}

func TestParseRepoPath(t *testing.T) {
	tests := []struct {
		in   string
		want repoTarget
		err  bool
	}{
		{in: "library/app", want: repoTarget{Name: "library/app"}},
		{in: "team/a/b/c", want: repoTarget{Name: "team/a/b/c"}},
		{in: "team/app/-/artifacts/sha256:ab", want: repoTarget{Name: "team/app", Rest: []string{"artifacts", "sha256:ab"}}},
		{in: "team/app/-/tags/v1/delete", want: repoTarget{Name: "team/app", Rest: []string{"tags", "v1", "delete"}}},
		{in: "Team/App", err: true},
		{in: "team/../x", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		got, err := parseRepoPath(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("parseRepoPath(%q) error %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); !tt.err && diff != "" {
			t.Errorf("parseRepoPath(%q): %s", tt.in, diff)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/a?b=c": "/a?b=c", "": "/projects", "//x": "/projects", "/\\x": "/projects",
		"https://x/": "/projects", "x": "/projects", "/a\r\nSet-Cookie: x": "/projects"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
