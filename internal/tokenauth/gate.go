package tokenauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/identity"
	"github.com/berth-registry/berth/internal/meta"
)

// projectGranter is access.Checker as the Gate uses it.
type projectGranter interface {
	granter
	Project(ctx context.Context, repo string) (access.Project, error)
}

// Gate authorizes /v2/ requests: Bearer tokens from the token service,
// Basic credentials (users and robots), or none (anonymous). It satisfies
// distapi's authorizer.
type Gate struct {
	c        Config
	projects projectGranter
}

// NewGate returns the /v2/ gate. c.Access must also look projects up
// (access.Checker does).
func NewGate(c Config) (*Gate, error) {
	pg, ok := c.Access.(projectGranter)
	if !ok {
		return nil, errors.New("tokenauth: Config.Access cannot look projects up")
	}
	return &Gate{c: c, projects: pg}, nil
}

// session is how one request authenticated.
type session struct {
	principal access.Principal
	// loaded: principal is complete (Basic, anonymous, or looked up for a
	// token subject); a token's principal holds only its kind and name.
	loaded bool
	token  *Claims // Bearer
}

type sessionKey struct{}

// Authorize authenticates r and checks that it may perform actions on
// repository repo. With repo empty it checks only that the credentials are
// valid (anonymous is refused for the base endpoint: clients learn from the
// 401 where to log in). The returned context carries the session for
// Allowed and FilterVisible, and the principal (access.FromContext).
//
// Errors: access.ErrUnauthorized (no, invalid or insufficient credentials:
// the edge answers 401 with a challenge so the client logs in or fetches
// a token with the right scope), access.ErrDenied (authenticated but not
// allowed), *access.ProjectNotFoundError (a logged-in caller naming a project that does
// not exist), identity errors from Basic logins (invalid, disabled,
// expired, throttled), or the store's.
func (g *Gate) Authorize(r *http.Request, repo string, actions []string) (context.Context, error) {
	ctx := r.Context()
	s, err := g.authenticate(r)
	if err != nil {
		return ctx, err
	}
	ctx = context.WithValue(access.NewContext(ctx, s.principal), sessionKey{}, s)
	if repo == "" {
		if s.token == nil && !s.principal.Authenticated() {
			return ctx, access.ErrUnauthorized
		}
		return ctx, nil
	}
	if s.token != nil {
		if s.token.Allows(repo, actions) {
			return ctx, nil
		}
		// The token lacks the scope. If its subject may do it, the client
		// should fetch a fresh token (401); if not, say so (403).
		if err := g.load(ctx, s); err != nil {
			return ctx, err
		}
		if err := g.decide(ctx, s.principal, repo, actions); err != nil {
			return ctx, err
		}
		return ctx, fmt.Errorf("%w: the token does not grant %s on %s", access.ErrUnauthorized, strings.Join(actions, ","), repo)
	}
	return ctx, g.decide(ctx, s.principal, repo, actions)
}

func (g *Gate) authenticate(r *http.Request) (*session, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return &session{principal: access.Anonymous(), loaded: true}, nil
	case strings.EqualFold(scheme, "Bearer"):
		c, err := g.c.Issuer.Verify(strings.TrimSpace(cred))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", access.ErrUnauthorized, err)
		}
		p := access.Principal{Kind: access.KindUser, Name: c.Subject}
		switch {
		case c.Subject == "":
			p.Kind = access.KindAnonymous
		case strings.HasPrefix(c.Subject, identity.RobotPrefix):
			p.Kind = access.KindRobot
		}
		if c.Scanner {
			// A scan's robot: revoked as soon as it is deleted (at the
			// end of the scan), not only when the token expires.
			sp, err := g.c.Identity.Principal(r.Context(), c.Subject)
			if errors.Is(err, identity.ErrInvalidCredentials) || (err == nil && (sp.Kind != access.KindRobot || !sp.Active(time.Now()))) {
				return nil, fmt.Errorf("%w: the scan's robot is gone", access.ErrUnauthorized)
			}
			if err != nil {
				return nil, err
			}
			p.Kind, p.Scanner = access.KindRobot, true
		}
		return &session{principal: p, token: &c}, nil
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, fmt.Errorf("%w: malformed Basic credentials", access.ErrUnauthorized)
		}
		p, err := g.c.Identity.Authenticate(r.Context(), user, pass, g.c.clientIP(r))
		if err != nil {
			if !errors.Is(err, identity.ErrBackendUnavailable) && !errors.Is(err, meta.ErrUnavailable) {
				recordLogin(r.Context(), g.c, r, user, err)
			}
			return nil, err
		}
		return &session{principal: p, loaded: true}, nil
	}
	return nil, fmt.Errorf("%w: unsupported authorization scheme", access.ErrUnauthorized)
}

// load replaces a token's bare principal with the subject's current one.
func (g *Gate) load(ctx context.Context, s *session) error {
	if s.loaded {
		return nil
	}
	p, err := g.c.Identity.Principal(ctx, s.principal.Name)
	if errors.Is(err, identity.ErrInvalidCredentials) { // the account is gone
		return fmt.Errorf("%w: unknown token subject", access.ErrUnauthorized)
	}
	if err != nil {
		return err
	}
	s.principal, s.loaded = p, true
	return nil
}

// decide checks that p holds every action on repo.
func (g *Gate) decide(ctx context.Context, p access.Principal, repo string, actions []string) error {
	granted, err := g.c.Access.Grant(ctx, p, repo, actions)
	var pnf *access.ProjectNotFoundError
	switch {
	case errors.As(err, &pnf):
		if !p.Authenticated() {
			return access.ErrUnauthorized
		}
		// "project X does not exist". Logged-in callers may know which
		// projects exist (as in Harbor); clients probe with a HEAD before
		// pushing, so only this answer makes a push into a missing project
		// fail with a clear message.
		return err
	case err != nil:
		return err
	}
	for _, a := range actions {
		if !slices.Contains(granted, a) {
			if !p.Authenticated() {
				return access.ErrUnauthorized
			}
			return access.ErrDenied
		}
	}
	return nil
}

// Allowed reports whether the request authorized in ctx may also perform
// actions on repo (a cross-repository mount's source). With a token, only
// the token counts.
func (g *Gate) Allowed(ctx context.Context, repo string, actions []string) bool {
	s, ok := ctx.Value(sessionKey{}).(*session)
	if !ok {
		return false
	}
	if s.token != nil && s.token.Allows(repo, actions) {
		return true
	}
	// A token carries the scopes its client asked for, which need not name
	// a mount's source repository: decide from the principal it stands for.
	if err := g.load(ctx, s); err != nil {
		return false
	}
	return g.decide(ctx, s.principal, repo, actions) == nil
}

// FilterVisible returns the repositories of repos the caller authorized in
// ctx may pull, in order.
func (g *Gate) FilterVisible(ctx context.Context, repos []string) ([]string, error) {
	s, ok := ctx.Value(sessionKey{}).(*session)
	if !ok {
		return []string{}, nil
	}
	if err := g.load(ctx, s); err != nil {
		return nil, err
	}
	p := s.principal
	out := []string{}
	if !p.Active(time.Now()) {
		return out, nil
	}
	if p.Sysadmin && p.Kind == access.KindUser {
		return append(out, repos...), nil
	}
	visible := map[string]bool{} // by project name
	for _, repo := range repos {
		name := access.ProjectName(repo)
		ok, seen := visible[name]
		if !seen {
			proj, err := g.projects.Project(ctx, repo)
			switch {
			case errors.Is(err, meta.ErrProjectNotFound):
				ok = false
			case err != nil:
				return nil, err
			default:
				ok = access.RegistryAllowed(p, proj, access.RegistryPull)
			}
			visible[name] = ok
		}
		if ok {
			out = append(out, repo)
		}
	}
	return out, nil
}
