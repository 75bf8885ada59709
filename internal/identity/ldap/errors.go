package ldap

import (
	"context"
	"errors"
	"fmt"

	goldap "github.com/go-ldap/ldap/v3"
)

var (
	// ErrInvalidCredentials: the username is unknown, matched nothing, or
	// the password is wrong or empty. All of these give this very error,
	// with the same text, so that callers cannot tell an unknown user from
	// a wrong password.
	ErrInvalidCredentials = errors.New("ldap: invalid credentials")
	// ErrUnavailable: the server could not be reached or did not answer in
	// time, the TLS handshake failed, or the server said it is busy or
	// unavailable. The cause is wrapped with it.
	ErrUnavailable = errors.New("ldap: server unavailable")
	// ErrMisconfigured: the settings are wrong: an invalid URL, DN,
	// attribute or filter, a search DN whose bind is rejected, a base DN
	// that does not exist, or a login name that matches several entries.
	ErrMisconfigured = errors.New("ldap: misconfigured")
	// ErrGroupNotFound: GroupByDN found no group with that DN under the
	// group filter.
	ErrGroupNotFound = errors.New("ldap: group not found")
)

// classify wraps err, from an operation made with the search account, with
// ErrUnavailable or ErrMisconfigured. A server result Berth cannot put in
// either class is wrapped as it is. ctx is the call's context: when it is
// done, its error is wrapped as well.
func classify(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("ldap %s: %w: %w (%v)", op, ErrUnavailable, ctxErr, err)
	}
	var le *goldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("ldap %s: %w", op, err)
	}
	switch le.ResultCode {
	case goldap.ErrorNetwork, goldap.ErrorUnexpectedMessage, goldap.ErrorUnexpectedResponse,
		goldap.ErrorMalformedPacket,
		goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultTimeLimitExceeded,
		goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultServerDown, goldap.LDAPResultTimeout,
		goldap.LDAPResultConnectError, goldap.LDAPResultTLSNotSupported:
		return fmt.Errorf("ldap %s: %w: %w", op, ErrUnavailable, err)
	case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInvalidDNSyntax,
		goldap.LDAPResultNoSuchObject, goldap.LDAPResultInsufficientAccessRights,
		goldap.LDAPResultInappropriateAuthentication, goldap.LDAPResultUnwillingToPerform,
		goldap.LDAPResultStrongAuthRequired, goldap.LDAPResultConfidentialityRequired,
		goldap.LDAPResultAuthMethodNotSupported, goldap.LDAPResultProtocolError,
		goldap.LDAPResultUndefinedAttributeType, goldap.LDAPResultInappropriateMatching,
		goldap.LDAPResultInvalidAttributeSyntax, goldap.LDAPResultFilterError,
		goldap.LDAPResultReferral, goldap.LDAPResultAliasProblem,
		goldap.LDAPResultAliasDereferencingProblem, goldap.LDAPResultUnavailableCriticalExtension,
		goldap.ErrorFilterCompile, goldap.ErrorEmptyPassword:
		return fmt.Errorf("ldap %s: %w: %w", op, ErrMisconfigured, err)
	default:
		return fmt.Errorf("ldap %s: %w", op, err)
	}
}

// isSizeLimit reports whether err only says that a search stopped at its
// size limit, its results being good.
func isSizeLimit(err error) bool {
	return errors.Is(err, goldap.ErrSizeLimitExceeded) ||
		goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded)
}
