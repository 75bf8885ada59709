package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrTargetRefused: the address a webhook target resolves to is outside
// the target policy (webhook.allow_networks / deny_networks). A refused
// delivery is not retried.
var ErrTargetRefused = errors.New("webhook target address refused by the webhook network policy")

// alwaysRefused are the networks no webhook reaches unless
// webhook.allow_networks names them: the registry's own host (loopback,
// "this network"), link-local (169.254.0.0/16 holds the cloud metadata
// endpoints; fe80::/10), the other cloud metadata addresses, multicast and
// broadcast. Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) are
// allowed: receivers in the same cluster are the common case; list them
// in webhook.deny_networks to refuse them.
var alwaysRefused = mustPrefixes(
	"127.0.0.0/8", "::1/128", // loopback
	"0.0.0.0/8", "::/128", // this host / unspecified
	"169.254.0.0/16", "fe80::/10", // link-local, cloud metadata
	"100.100.100.200/32", "fd00:ec2::254/128", // cloud metadata outside link-local
	"224.0.0.0/4", "ff00::/8", "255.255.255.255/32", // multicast, broadcast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	ps, err := ParseNetworks(ss)
	if err != nil {
		panic(err) // constants
	}
	return ps
}

// ParseNetworks parses CIDR ranges (a bare address is a /32 or /128).
func ParseNetworks(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// TargetPolicy decides which addresses webhooks may be delivered to. The
// rule, first match wins: an address in Deny is refused; one in Allow is
// allowed; one in the always-refused networks (loopback, link-local and
// cloud metadata, unspecified, multicast) is refused; any other is
// allowed. The check runs when the connection is made, against the
// address the name resolved to, so a name that resolves to another
// address later (DNS rebinding) is caught too.
type TargetPolicy struct {
	Allow, Deny []netip.Prefix
}

// Check returns ErrTargetRefused (wrapped, naming the address) if ip may
// not be reached.
func (p TargetPolicy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	in := func(ps []netip.Prefix) bool {
		for _, n := range ps {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: no address", ErrTargetRefused)
	case in(p.Deny):
		return fmt.Errorf("%w: %s is in webhook.deny_networks", ErrTargetRefused, ip)
	case in(p.Allow):
		return nil
	case in(alwaysRefused):
		return fmt.Errorf("%w: %s is loopback, link-local, cloud metadata, unspecified or multicast (webhook.allow_networks may allow it)",
			ErrTargetRefused, ip)
	}
	return nil
}

// control is a net.Dialer Control func: it runs after name resolution,
// before each connection attempt, with the address actually dialled.
func (p TargetPolicy) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrTargetRefused, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an address", ErrTargetRefused, host)
	}
	return p.Check(ip)
}
