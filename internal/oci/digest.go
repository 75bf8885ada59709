package oci

import (
	_ "crypto/sha256" // registers SHA-256 with go-digest
	_ "crypto/sha512" // registers SHA-512 with go-digest
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// SupportedAlgorithms are the digest algorithms Berth accepts.
var supportedAlgorithms = map[digest.Algorithm]bool{
	digest.SHA256: true,
	digest.SHA512: true,
}

// ParseDigest parses and validates s as a sha256 or sha512 digest.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrDigestInvalid, truncate(s, 150), err)
	}
	if !supportedAlgorithms[d.Algorithm()] {
		return "", fmt.Errorf("%w: algorithm %q is not supported (sha256, sha512)", ErrDigestInvalid, d.Algorithm())
	}
	return d, nil
}

// ParseAlgorithm validates an algorithm name; "" means sha256.
func ParseAlgorithm(s string) (digest.Algorithm, error) {
	if s == "" {
		return digest.SHA256, nil
	}
	a := digest.Algorithm(s)
	if !supportedAlgorithms[a] {
		return "", fmt.Errorf("%w: algorithm %q is not supported (sha256, sha512)", ErrDigestInvalid, truncate(s, 40))
	}
	return a, nil
}

// IsDigest reports whether a manifest reference looks like a digest
// ("algo:hex") rather than a tag; tags cannot contain ':'.
func IsDigest(ref string) bool {
	return strings.Contains(ref, ":")
}
