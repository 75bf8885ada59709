// Package tokenauth is registry authentication at the edge: the Docker
// token service (GET /service/token, and the OAuth2 password grant on
// POST) issuing short-lived JWTs that carry exactly the granted subset of
// the requested scopes, their verification, and the Gate that authorizes
// /v2/ requests with Bearer tokens or Basic credentials.
//
// Only internal/app imports it: distapi declares the small interface the
// Gate satisfies.
package tokenauth

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-registry/berth/internal/oci"
)

// ResourceActions is one entry of a token's "access" claim (Docker's
// token format): actions granted on a resource.
type ResourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are a registry token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Access []ResourceActions `json:"access"`
	// Scanner marks a token Berth minted for one scan (IssueScan): its
	// subject is that scan's robot, exempt from pull policies as Harbor
	// exempts its scanner; the Gate checks on each request that the robot
	// still exists, so deleting it revokes the token. The token service
	// never sets it.
	Scanner bool `json:"berth_scanner,omitempty"`
}

// Allows reports whether the token grants every action on repository repo
// ("*" grants them all).
func (c Claims) Allows(repo string, actions []string) bool {
	for _, a := range actions {
		ok := false
		for _, ra := range c.Access {
			if ra.Type == "repository" && ra.Name == repo && (slices.Contains(ra.Actions, a) || slices.Contains(ra.Actions, "*")) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Options configure an Issuer.
type Options struct {
	// Issuer is the "iss" claim (default "berth-token-service").
	Issuer string
	// Service is the audience, as named in the /v2/ challenge (default "berth").
	Service string
	// TTL is how long tokens live (default 5m).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Issuer signs and verifies registry tokens with one key.
type Issuer struct {
	key    crypto.Signer
	method jwt.SigningMethod
	kid    string
	opts   Options
	// seen caches verified tokens until they expire (verified.go).
	seen *verifiedCache
}

// NewIssuer returns an Issuer signing with key (ES256 for ECDSA P-256,
// RS256 for RSA).
func NewIssuer(key crypto.Signer, opts Options) (*Issuer, error) {
	m, err := signingMethod(key)
	if err != nil {
		return nil, err
	}
	kid, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	if opts.Issuer == "" {
		opts.Issuer = "berth-token-service"
	}
	if opts.Service == "" {
		opts.Service = "berth"
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Issuer{key: key, method: m, kid: kid, opts: opts, seen: &verifiedCache{limit: verifiedCacheSize}}, nil
}

// Service returns the audience tokens are issued for.
func (i *Issuer) Service() string { return i.opts.Service }

// Token is a signed token with its lifetime.
type Token struct {
	Raw       string
	IssuedAt  time.Time
	ExpiresIn time.Duration
}

// Issue signs a token for subject ("" for anonymous) granting access,
// valid for Options.TTL.
func (i *Issuer) Issue(subject string, access []ResourceActions) (Token, error) {
	return i.IssueFor(subject, access, i.opts.TTL)
}

// IssueFor is Issue with a lifetime of ttl (Options.TTL when ttl <= 0).
func (i *Issuer) IssueFor(subject string, access []ResourceActions, ttl time.Duration) (Token, error) {
	return i.issue(subject, access, ttl, false)
}

// IssueScan is IssueFor for the robot of one scan (Claims.Scanner).
func (i *Issuer) IssueScan(robot string, access []ResourceActions, ttl time.Duration) (Token, error) {
	return i.issue(robot, access, ttl, true)
}

func (i *Issuer) issue(subject string, access []ResourceActions, ttl time.Duration, scanner bool) (Token, error) {
	if ttl <= 0 {
		ttl = i.opts.TTL
	}
	now := i.opts.Now().UTC().Truncate(time.Second)
	jti := make([]byte, 16)
	_, _ = rand.Read(jti) // never fails (crypto/rand)
	if access == nil {
		access = []ResourceActions{}
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.opts.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{i.opts.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
		Access:  access,
		Scanner: scanner,
	}
	t := jwt.NewWithClaims(i.method, claims)
	t.Header["kid"] = i.kid
	raw, err := t.SignedString(i.key)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{Raw: raw, IssuedAt: now, ExpiresIn: ttl}, nil
}

// ErrInvalidToken: a Bearer token that is malformed, signed by another
// key, for another service, or expired.
var ErrInvalidToken = errors.New("invalid or expired token")

// Verify checks raw's signature, algorithm, issuer, audience and validity
// period and returns its claims. Failures match ErrInvalidToken.
func (i *Issuer) Verify(raw string) (Claims, error) {
	now := i.opts.Now()
	if c, ok := i.seen.get(raw, now); ok {
		return c, nil
	}
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return i.key.Public(), nil },
		jwt.WithValidMethods([]string{i.method.Alg()}),
		jwt.WithIssuer(i.opts.Issuer),
		jwt.WithAudience(i.opts.Service),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(verifyLeeway),
		jwt.WithTimeFunc(i.opts.Now),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	i.seen.put(raw, c, now)
	return c, nil
}

// verifyLeeway is the clock skew Verify tolerates.
const verifyLeeway = 5 * time.Second

// Scope is one requested scope: type:name:actions, e.g.
// repository:library/app:pull,push or registry:catalog:*.
type Scope struct {
	Type    string
	Name    string
	Actions []string
}

// Bounds of a token request's scopes: a token is signed over every
// granted scope, so an unbounded request would make the service sign (and
// every later /v2/ request carry) an arbitrarily large token.
const (
	// MaxScopes is the most scopes one request may name.
	MaxScopes = 32
	// maxScopeLength bounds one scope (type:name:actions).
	maxScopeLength = 512
	// maxScopeBytes bounds all scope values of a request together.
	maxScopeBytes = MaxScopes * (maxScopeLength + 1)
)

// Errors of ParseScopes; a repository name that is not valid matches
// oci.ErrNameInvalid.
var (
	ErrTooManyScopes = fmt.Errorf("too many scopes: at most %d per token request", MaxScopes)
	ErrScopeInvalid  = errors.New("invalid scope")
)

// ParseScopes parses the scope query values of a token request. Each
// value may hold several scopes separated by spaces. A type may carry a
// class, as in repository(plugin):name:pull; the class is dropped. At most
// MaxScopes scopes (ErrTooManyScopes), each at most 512 bytes long; a
// repository name must be valid as /v2/ validates it (oci.ErrNameInvalid).
func ParseScopes(values []string) ([]Scope, error) {
	total := 0
	for _, v := range values {
		total += len(v) + 1
	}
	if total > maxScopeBytes {
		return nil, fmt.Errorf("%w: scopes longer than %d bytes together", ErrTooManyScopes, maxScopeBytes)
	}
	var out []Scope
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			if len(out) == MaxScopes {
				return nil, ErrTooManyScopes
			}
			if len(s) > maxScopeLength {
				return nil, fmt.Errorf("%w: %q is longer than %d bytes", ErrScopeInvalid, truncate(s, 100), maxScopeLength)
			}
			// The token's JSON would turn invalid bytes into U+FFFD:
			// another name than the one checked.
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("%w: %q is not UTF-8", ErrScopeInvalid, truncate(s, 100))
			}
			typ, rest, ok1 := strings.Cut(s, ":")
			i := strings.LastIndexByte(rest, ':')
			if !ok1 || i <= 0 || typ == "" {
				return nil, fmt.Errorf("%w: %q: want type:name:actions", ErrScopeInvalid, truncate(s, 100))
			}
			if j := strings.IndexByte(typ, '('); j > 0 && strings.HasSuffix(typ, ")") {
				typ = typ[:j]
			}
			name, acts := rest[:i], rest[i+1:]
			if typ == "repository" {
				if err := oci.ValidateName(name); err != nil {
					return nil, fmt.Errorf("scope %q: %w", truncate(s, 100), err)
				}
			}
			var actions []string
			for _, a := range strings.Split(acts, ",") {
				if a != "" && !slices.Contains(actions, a) {
					actions = append(actions, a)
				}
			}
			out = append(out, Scope{Type: typ, Name: name, Actions: actions})
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
