package registry

import "testing"

func TestIsArtifactType(t *testing.T) {
	for _, tc := range []struct {
		t    string
		want bool
	}{
		{"", false},
		{"application/vnd.oci.image.config.v1+json", false},
		{"application/vnd.docker.container.image.v1+json", false},
		{"application/vnd.cyclonedx+json", true},
		{"application/vnd.cncf.helm.config.v1+json", true},
	} {
		if got := isArtifactType(tc.t); got != tc.want {
			t.Errorf("isArtifactType(%q) = %v, want %v", tc.t, got, tc.want)
		}
	}
}
