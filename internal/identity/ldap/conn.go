package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// maxResults caps every search, whatever limit a caller asks for.
const maxResults = 1000

// backstop is how long after the call's deadline the connection's own
// timers fire, should closing it on the deadline not stop it.
const backstop = 250 * time.Millisecond

// session is one connection, bound as the search account, for the length
// of one exported call. It is never shared between calls.
type session struct {
	cfg  Config
	conn *goldap.Conn
	stop func() bool // unregisters the close-on-cancel hook
}

// open validates cfg, connects (TLS as configured) and binds with the
// search DN. ctx must already carry the call's deadline: the connection's
// I/O deadline is set to it and cancelling ctx closes the connection, so
// that no network call outlives the call.
func open(ctx context.Context, cfg Config) (*session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addr, ldaps, _ := cfg.endpoint() // checked by Validate
	host, _, _ := net.SplitHostPort(addr)
	tlsConfig := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: !cfg.VerifyCert, //nolint:gosec // an admin's explicit ldap_verify_cert=false
		MinVersion:         tls.VersionTLS12,
	}

	var raw net.Conn
	var err error
	dialer := &net.Dialer{}
	if ldaps {
		raw, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", addr)
	} else {
		raw, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ldap connect %s: %w: %w", addr, ErrUnavailable, err)
	}
	// The context's deadline and cancellation close the connection (the
	// AfterFunc below), so that errors then name the context's error; the
	// I/O deadline, a little later, is the backstop.
	if deadline, ok := ctx.Deadline(); ok {
		if err := raw.SetDeadline(deadline.Add(backstop)); err != nil {
			raw.Close()
			return nil, fmt.Errorf("ldap connect %s: %w: %w", addr, ErrUnavailable, err)
		}
	}
	conn := goldap.NewConn(raw, ldaps)
	conn.Start()
	if deadline, ok := ctx.Deadline(); ok {
		// go-ldap's own per-request timer, as a second bound; it also bounds
		// how long Close waits for the connection to wind down.
		conn.SetTimeout(time.Until(deadline) + backstop)
	}
	s := &session{cfg: cfg, conn: conn}
	s.stop = context.AfterFunc(ctx, func() { conn.Close() })

	if cfg.StartTLS {
		if err := conn.StartTLS(tlsConfig); err != nil {
			s.close()
			return nil, fmt.Errorf("ldap starttls %s: %w: %w", addr, ErrUnavailable, err)
		}
	}
	if err := s.bindSearch(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// bindSearch binds as the search account, or stays anonymous when no search
// DN is configured. A rejected bind is a configuration problem.
func (s *session) bindSearch(ctx context.Context) error {
	if s.cfg.SearchDN == "" {
		return nil
	}
	if s.cfg.SearchPassword == "" {
		// An empty password would be an unauthenticated bind, which servers
		// accept as anonymous: say so rather than search with no rights.
		return fmt.Errorf("ldap search bind %q: %w: ldap_search_password is empty", s.cfg.SearchDN, ErrMisconfigured)
	}
	if err := s.conn.Bind(s.cfg.SearchDN, s.cfg.SearchPassword); err != nil {
		return classify(ctx, fmt.Sprintf("search bind %q", s.cfg.SearchDN), err)
	}
	return nil
}

func (s *session) close() {
	s.stop()
	s.conn.Close()
}

// search runs req, returning its entries when the server stopped at the
// size limit too: every request carries one.
func (s *session) search(ctx context.Context, op string, req *goldap.SearchRequest) ([]*goldap.Entry, error) {
	if req.SizeLimit <= 0 || req.SizeLimit > maxResults {
		req.SizeLimit = maxResults
	}
	req.EnforceSizeLimit = true
	req.TimeLimit = int(s.cfg.timeout() / time.Second)
	res, err := s.conn.Search(req)
	if err != nil {
		if isSizeLimit(err) && ctx.Err() == nil && res != nil {
			return res.Entries, nil
		}
		return nil, classify(ctx, op, err)
	}
	return res.Entries, nil
}

// userBind checks password as dn's. A server that cannot answer gives
// ErrUnavailable; any refusal gives ErrInvalidCredentials.
func (s *session) userBind(ctx context.Context, dn, password string) error {
	err := s.conn.Bind(dn, password)
	if err == nil {
		return nil
	}
	if cerr := classify(ctx, "bind", err); errors.Is(cerr, ErrUnavailable) {
		return cerr
	}
	// Wrong password (invalidCredentials), and also an account the
	// directory locked, disabled or expired (unwillingToPerform and the
	// like): the user may not log in, and which it was is the directory's
	// business.
	return ErrInvalidCredentials
}
