package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns a function that finds a request's client address: the
// peer's address, unless the peer is one of the trusted proxies
// (addresses or CIDR ranges); then the rightmost X-Forwarded-For entry
// that is not a trusted proxy. Entries left of it could be forged by the
// client, so they are never used.
func ClientIP(trusted []string) (func(*http.Request) string, error) {
	var nets []netip.Prefix
	for _, t := range trusted {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR range", t)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		nets = append(nets, p.Masked())
	}
	isTrusted := func(a netip.Addr) bool {
		for _, n := range nets {
			if n.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err != nil || !isTrusted(peer) {
			return host
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // garbage: stop at the last address we can vouch for
			}
			if !isTrusted(a) {
				return a.Unmap().String()
			}
			peer = a
		}
		return peer.Unmap().String()
	}, nil
}
