// Package signature enforces a project's signature policy at pull time.
//
// Two policies, both per project:
//   - Harbor's enable_content_trust_cosign: a manifest may be pulled only if
//     a cosign signature of it exists (the tag sha256-<hex>.sig, or an OCI
//     referrer of artifact type application/vnd.dev.cosign.artifact.sig.v1+json).
//   - Berth's signature keys (meta.SignatureKey, set through
//     /api/v2.0/projects/{p}/signature-keys): when a project has keys, a
//     signature must also verify cryptographically against one of them:
//     each signature layer (a simple-signing payload) is read from the blob
//     store, its signature (annotation dev.cosignproject.cosign/signature)
//     checked with the key (ECDSA P-256/P-384/P-521, Ed25519 or RSA), and
//     the payload's critical.image.docker-manifest-digest must be the
//     digest being pulled. Keys make the policy apply even when the
//     metadata flag is off.
//
// A manifest in an index is allowed when an index of the repository that
// lists it passes (cosign signs the index). Signature, attestation and SBOM
// manifests themselves (tags sha256-<hex>.sig/.att/.sbom, or manifests with
// a subject) are always allowed, so that verifiers can fetch them.
// Verdicts are cached per repository, digest and key set (positive for
// CacheTTL, refusals for NegativeTTL).
//
// Refusals match access.ErrDenied (the OCI edge answers DENIED) and say
// why: unsigned, or signed by no key the project trusts.
//
// It must not import net/http or an edge package.
package signature

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// Cosign's media types and annotation.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SigArtifactType        = "application/vnd.dev.cosign.artifact.sig.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
)

// Bounds and cache lifetimes.
const (
	maxPayload     = 64 << 10
	maxLayers      = 20
	maxSignatures  = 20
	maxCache       = 10000
	CacheTTL       = time.Minute
	NegativeTTL    = 5 * time.Second
	maxIndexChecks = 10
)

// ErrInvalidKey: a public key Berth cannot use.
var ErrInvalidKey = errors.New("invalid public key")

// Manifests is what the verifier reads of meta.Manifests.
type Manifests interface {
	GetTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	GetManifest(ctx context.Context, repo string, d digest.Digest) (meta.Manifest, error)
	ListReferrers(ctx context.Context, repo string, d digest.Digest, artifactType string, limit int) ([]meta.Manifest, error)
	ListManifestDependents(ctx context.Context, repo string, d digest.Digest, limit int) ([]meta.ManifestDependent, error)
}

// Blobs reads blobs (*content.Service).
type Blobs interface {
	Stat(ctx context.Context, repo string, d digest.Digest) (meta.Blob, error)
	Open(ctx context.Context, b meta.Blob, offset int64) (io.ReadCloser, error)
}

// Policies reads project policies and keys (*meta.Policies).
type Policies interface {
	GetProjectPolicy(ctx context.Context, pid int64) (meta.ProjectPolicy, error)
	ListSignatureKeys(ctx context.Context, pid int64) ([]meta.SignatureKey, error)
}

// Projects finds a project by name (*meta.Projects).
type Projects interface {
	GetProjectByName(ctx context.Context, name string) (meta.Project, error)
}

// Verifier checks pulls against the signature policy.
type Verifier struct {
	projects  Projects
	manifests Manifests
	blobs     Blobs
	policies  Policies
	now       func() time.Time

	mu    sync.Mutex
	cache map[string]verdict
	rules map[string]rule
}

type verdict struct {
	err   error
	until time.Time
}

// New returns a verifier.
func New(pr Projects, m Manifests, b Blobs, p Policies) *Verifier {
	return &Verifier{projects: pr, manifests: m, blobs: b, policies: p, now: time.Now, cache: map[string]verdict{},
		rules: map[string]rule{}}
}

// Check decides whether m, which ref names in repo, may be pulled.
// Refused: an error matching access.ErrDenied that says why.
func (v *Verifier) Check(ctx context.Context, repo, ref string, m meta.Manifest) error {
	if m.Subject != "" || cosignTag.MatchString(ref) {
		return nil
	}
	rule, err := v.rule(ctx, access.ProjectName(repo))
	if err != nil || !rule.on {
		return err
	}
	key := repo + "@" + m.Digest.String() + "|" + rule.keyset
	pubs := rule.keys
	if err, ok := v.cached(key); ok {
		return err
	}
	err = v.check(ctx, repo, m.Digest, pubs, 0)
	if err != nil && !errors.Is(err, access.ErrDenied) {
		return err // an outage: not cached
	}
	ttl := CacheTTL
	if err != nil {
		ttl = NegativeTTL
	}
	v.store(key, err, ttl)
	return err
}

var cosignTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}\.(sig|att|sbom)$`)

// rule is a project's signature policy, parsed and cached for ruleTTL.
type rule struct {
	on     bool
	keys   []trustedKey
	keyset string // the keys' fingerprints, for cache keys
	until  time.Time
}

// ruleTTL is how long a project's policy is cached: a change takes effect
// within it.
const ruleTTL = 3 * time.Second

func (v *Verifier) rule(ctx context.Context, project string) (rule, error) {
	v.mu.Lock()
	r, ok := v.rules[project]
	v.mu.Unlock()
	if ok && v.now().Before(r.until) {
		return r, nil
	}
	fresh, err := v.readRule(ctx, project)
	if err != nil {
		// While the database is unreachable nothing can change the
		// policy: the last one read stays in force, so warm pulls go on.
		if ok && errors.Is(err, meta.ErrUnavailable) {
			return r, nil
		}
		return rule{}, err
	}
	return fresh, nil
}

// readRule reads project's policy and caches it for ruleTTL.
func (v *Verifier) readRule(ctx context.Context, project string) (rule, error) {
	p, err := v.projects.GetProjectByName(ctx, project)
	if err != nil {
		return rule{}, err
	}
	pid := p.ID
	pol, err := v.policies.GetProjectPolicy(ctx, pid)
	if err != nil {
		return rule{}, err
	}
	keys, err := v.policies.ListSignatureKeys(ctx, pid)
	if err != nil {
		return rule{}, err
	}
	r := rule{on: pol.ContentTrustCosign || len(keys) > 0, until: v.now().Add(ruleTTL)}
	var set strings.Builder
	for _, k := range keys {
		pub, _, _, err := ParsePublicKey(k.PublicKey)
		if err != nil {
			continue // stored keys were checked when added
		}
		r.keys = append(r.keys, trustedKey{name: k.Name, fingerprint: k.Fingerprint, pub: pub})
		set.WriteString(k.Fingerprint)
	}
	r.keyset = set.String()
	v.mu.Lock()
	if len(v.rules) >= maxCache {
		v.rules = map[string]rule{}
	}
	v.rules[project] = r
	v.mu.Unlock()
	return r, nil
}

type trustedKey struct {
	name, fingerprint string
	pub               crypto.PublicKey
}

// check looks for a valid signature of d, then of the indexes listing d.
func (v *Verifier) check(ctx context.Context, repo string, d digest.Digest, keys []trustedKey, depth int) error {
	_, found, reason, err := v.verifyDigest(ctx, repo, d, keys)
	if err != nil || found {
		return err
	}
	if depth == 0 {
		deps, err := v.manifests.ListManifestDependents(ctx, repo, d, maxIndexChecks)
		if err != nil {
			return err
		}
		for _, dep := range deps {
			if dep.Kind != meta.DependentIndex {
				continue
			}
			if err := v.check(ctx, repo, dep.Digest, keys, 1); err == nil {
				return nil
			} else if !errors.Is(err, access.ErrDenied) {
				return err
			}
		}
	}
	return fmt.Errorf("%w: %s", access.ErrDenied, reason)
}

// verifyDigest reports whether a signature of d passes, and the name of
// the key it verified with ("" without keys); when none passes, why.
func (v *Verifier) verifyDigest(ctx context.Context, repo string, d digest.Digest, keys []trustedKey) (string, bool, string, error) {
	sigs, err := v.signatureManifests(ctx, repo, d)
	if err != nil {
		return "", false, "", err
	}
	if len(sigs) == 0 {
		if len(keys) == 0 {
			return "", false, fmt.Sprintf("the artifact %s is not signed: the project requires a cosign signature (enable_content_trust_cosign)", d), nil
		}
		return "", false, fmt.Sprintf("the artifact %s is not signed: the project requires a cosign signature by one of its %d trusted keys", d, len(keys)), nil
	}
	if len(keys) == 0 {
		return "", true, "", nil // Harbor's policy: a signature exists
	}
	problems := 0
	for _, sm := range sigs {
		layers, err := sigLayers(sm)
		if err != nil {
			problems++
			continue
		}
		for _, l := range layers {
			payload, err := v.readBlob(ctx, repo, l.Digest)
			if err != nil {
				if errors.Is(err, meta.ErrUnavailable) {
					return "", false, "", err
				}
				problems++
				continue
			}
			if !payloadNames(payload, d) {
				problems++
				continue
			}
			sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
			if err != nil || len(sig) == 0 {
				problems++
				continue
			}
			for _, k := range keys {
				if verify(k.pub, payload, sig) {
					return k.name, true, "", nil
				}
			}
		}
	}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, k.name)
	}
	return "", false, fmt.Sprintf("the artifact %s is signed, but by no key the project trusts (trusted keys: %s)", d, strings.Join(names, ", ")), nil
}

// Status is an artifact's standing under its project's signature policy,
// for display.
type Status struct {
	Enforced bool   // the project requires signatures
	Verified bool   // a signature passes
	Key      string // the trusted key it verified with ("" with no keys: any cosign signature)
	Reason   string // why none passes
}

// Status checks repo@d as a pull would (d itself, not the indexes that
// list it), uncached, and says by which key it verifies.
func (v *Verifier) Status(ctx context.Context, repo string, d digest.Digest) (Status, error) {
	r, err := v.rule(ctx, access.ProjectName(repo))
	if err != nil {
		return Status{}, err
	}
	key, ok, reason, err := v.verifyDigest(ctx, repo, d, r.keys)
	return Status{Enforced: r.on, Verified: ok, Key: key, Reason: reason}, err
}

// signatureManifests finds the cosign signature manifests of d: the
// legacy tag and OCI referrers.
func (v *Verifier) signatureManifests(ctx context.Context, repo string, d digest.Digest) ([]meta.Manifest, error) {
	var out []meta.Manifest
	tag := strings.Replace(d.String(), ":", "-", 1) + ".sig"
	sd, err := v.manifests.GetTag(ctx, repo, tag)
	switch {
	case err == nil:
		m, err := v.manifests.GetManifest(ctx, repo, sd)
		if err != nil && !errors.Is(err, meta.ErrManifestNotFound) {
			return nil, err
		}
		if err == nil {
			out = append(out, m)
		}
	case errors.Is(err, meta.ErrTagNotFound), errors.Is(err, meta.ErrRepositoryNotFound):
	default:
		return nil, err
	}
	refs, err := v.manifests.ListReferrers(ctx, repo, d, SigArtifactType, maxSignatures)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		m, err := v.manifests.GetManifest(ctx, repo, r.Digest)
		if err != nil {
			if errors.Is(err, meta.ErrManifestNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

type layer struct {
	MediaType   string            `json:"mediaType"`
	Digest      digest.Digest     `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

func sigLayers(m meta.Manifest) ([]layer, error) {
	var body struct {
		Layers []layer `json:"layers"`
	}
	if err := json.Unmarshal(m.Payload, &body); err != nil {
		return nil, err
	}
	var out []layer
	for _, l := range body.Layers[:min(len(body.Layers), maxLayers)] {
		if l.MediaType == SimpleSigningMediaType && l.Annotations[SignatureAnnotation] != "" && l.Size <= maxPayload {
			if _, err := oci.ParseDigest(l.Digest.String()); err == nil {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

func (v *Verifier) readBlob(ctx context.Context, repo string, d digest.Digest) ([]byte, error) {
	b, err := v.blobs.Stat(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	if b.Size > maxPayload {
		return nil, fmt.Errorf("signature payload of %d bytes", b.Size)
	}
	rc, err := v.blobs.Open(ctx, b, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		return nil, err
	}
	if d.Algorithm().FromBytes(data) != d {
		return nil, fmt.Errorf("signature payload %s does not match its digest", d)
	}
	return data, nil
}

// payloadNames reports whether a simple-signing payload names digest d.
func payloadNames(payload []byte, d digest.Digest) bool {
	var p struct {
		Critical struct {
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return false
	}
	return p.Critical.Image.DockerManifestDigest == d.String() &&
		strings.EqualFold(p.Critical.Type, "cosign container image signature")
}

// verify checks sig over payload with pub as cosign signs: ECDSA over the
// curve's hash (SHA-256 for P-256), Ed25519 over the payload, RSA PKCS #1
// v1.5 or PSS over SHA-256.
func verify(pub crypto.PublicKey, payload, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		var h []byte
		switch k.Curve {
		case elliptic.P384():
			s := sha512.Sum384(payload)
			h = s[:]
		case elliptic.P521():
			s := sha512.Sum512(payload)
			h = s[:]
		default:
			s := sha256.Sum256(payload)
			h = s[:]
		}
		return ecdsa.VerifyASN1(k, h, sig)
	case ed25519.PublicKey:
		return ed25519.Verify(k, payload, sig)
	case *rsa.PublicKey:
		h := sha256.Sum256(payload)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil ||
			rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, nil) == nil
	}
	return false
}

// ParsePublicKey reads a PEM public key (PKIX "PUBLIC KEY", as cosign
// writes cosign.pub) and returns it with its fingerprint (sha256 of the
// DER, hex) and algorithm name. Not usable: ErrInvalidKey.
func ParsePublicKey(s string) (crypto.PublicKey, string, string, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, "", "", fmt.Errorf("%w: want one PEM block of type PUBLIC KEY", ErrInvalidKey)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	alg := ""
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		alg = "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case ed25519.PublicKey:
		alg = "ed25519"
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, "", "", fmt.Errorf("%w: RSA keys need at least 2048 bits", ErrInvalidKey)
		}
		alg = fmt.Sprintf("rsa-%d", k.N.BitLen())
	default:
		return nil, "", "", fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, pub)
	}
	sum := sha256.Sum256(block.Bytes)
	return pub, hex.EncodeToString(sum[:]), alg, nil
}

func (v *Verifier) cached(key string) (error, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.cache[key]
	if !ok || v.now().After(e.until) {
		return nil, false
	}
	return e.err, true
}

func (v *Verifier) store(key string, err error, ttl time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= maxCache {
		v.cache = map[string]verdict{}
	}
	v.cache[key] = verdict{err: err, until: v.now().Add(ttl)}
}
