// Package egress decides where a service may connect on behalf of the
// callers that hand it URLs (mlengine fetches a media URL and posts to a
// callback URL it is given): a Policy lists the hosts, addresses and
// networks allowed, refuses private, loopback, link-local (cloud metadata),
// carrier-grade NAT and other special-purpose addresses unless they are
// listed, and is enforced where it cannot be fooled: on the address that is
// actually dialled, after DNS resolution (a name that resolves to a public
// address when a URL is checked and to 169.254.169.254 when it is fetched
// gets nowhere), and on every redirect.
package egress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrRefused is wrapped by every error of a connection the policy refuses.
var ErrRefused = errors.New("refused by the outbound URL policy")

// Resolver looks host names up; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Policy. The zero value allows public addresses only.
type Options struct {
	// Allow lists what may be reached even when it is not public: host
	// names ("starter", "media.example.com"), wildcard names
	// ("*.example.com": any name under example.com), IP addresses and
	// networks in CIDR form ("10.1.0.0/16"). A listed name is trusted
	// whatever it resolves to.
	Allow []string
	// ListedOnly refuses every host that Allow does not list, public
	// addresses included.
	ListedOnly bool
	// Setting names the configuration variable of Allow in messages
	// (default "the outbound allow-list").
	Setting string
	// Resolver resolves host names (default net.DefaultResolver).
	Resolver Resolver
	// MaxRedirects bounds a chain of redirects (default 10).
	MaxRedirects int
}

// Policy is a parsed outbound URL policy.
type Policy struct {
	names      map[string]bool
	suffixes   []string // ".example.com" for "*.example.com"
	nets       []netip.Prefix
	listedOnly bool
	setting    string
	resolver   Resolver
	maxRedir   int
	dialer     net.Dialer
}

// New parses o. Its error names the entry it could not read.
func New(o Options) (*Policy, error) {
	p := &Policy{names: map[string]bool{}, listedOnly: o.ListedOnly, setting: o.Setting, resolver: o.Resolver,
		maxRedir: o.MaxRedirects, dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
	if p.setting == "" {
		p.setting = "the outbound allow-list"
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.maxRedir <= 0 {
		p.maxRedir = 10
	}
	for _, raw := range o.Allow {
		e := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(raw), "."))
		switch {
		case e == "":
		case strings.Contains(e, "/"):
			pfx, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a network in CIDR form", p.setting, raw)
			}
			p.nets = append(p.nets, pfx.Masked())
		case strings.HasPrefix(e, "*."):
			if !validName(e[2:]) {
				return nil, fmt.Errorf("%s: %q is not a wildcard host name", p.setting, raw)
			}
			p.suffixes = append(p.suffixes, e[1:])
		default:
			if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				a = a.Unmap()
				p.nets = append(p.nets, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			if !validName(e) {
				return nil, fmt.Errorf("%s: %q is neither a host name, an IP address nor a network", p.setting, raw)
			}
			p.names[e] = true
		}
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// listedName reports whether host (a name, not an address) is on the list.
func (p *Policy) listedName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if p.names[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// checkAddr decides on an address; viaListedName says it was reached
// through a listed host name.
func (p *Policy) checkAddr(host string, a netip.Addr, viaListedName bool) error {
	a = a.Unmap()
	if viaListedName {
		return nil
	}
	for _, n := range p.nets {
		if n.Contains(a) {
			return nil
		}
	}
	if kind := special(a); kind != "" {
		if host == a.String() {
			return fmt.Errorf("%w: %s is %s address; list it in %s to allow it", ErrRefused, a, kind, p.setting)
		}
		return fmt.Errorf("%w: %q resolves to %s, %s address; list the host in %s to allow it", ErrRefused, host, a, kind, p.setting)
	}
	if p.listedOnly {
		return fmt.Errorf("%w: %q is not listed in %s", ErrRefused, host, p.setting)
	}
	return nil
}

// CheckURL checks what can be known of raw without resolving it: an
// http(s) URL whose host, if it is an address, is allowed, and which is
// listed when only listed hosts are. Connections are checked again on
// the addresses they dial (Transport).
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a valid URL", ErrRefused)
	}
	return p.checkURL(u)
}

func (p *Policy) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: %q URLs are not fetched", ErrRefused, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: the URL has no host", ErrRefused)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.checkAddr(a.Unmap().String(), a, false)
	}
	if p.listedOnly && !p.listedName(host) {
		return fmt.Errorf("%w: %q is not listed in %s", ErrRefused, host, p.setting)
	}
	return nil
}

// DialContext resolves addr's host, keeps the addresses the policy allows
// and connects to one of them: the address checked is the address dialled,
// so a DNS answer that changes between a check and the connection (DNS
// rebinding) cannot slip through.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	listed := false
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		listed = p.listedName(host)
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		if addrs, err = p.resolver.LookupNetIP(ctx, ipNet, host); err != nil {
			return nil, fmt.Errorf("resolving %q: %w", host, err)
		}
	}
	var refused, dialErr error
	for _, a := range addrs {
		if err := p.checkAddr(host, a, listed); err != nil {
			refused = cmp.Or(refused, err)
			continue
		}
		conn, err := p.dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		dialErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if dialErr != nil {
		return nil, dialErr
	}
	if refused != nil {
		return nil, refused
	}
	return nil, fmt.Errorf("resolving %q: no addresses", host)
}

// CheckRedirect is an http.Client CheckRedirect that follows a redirect
// only to a URL the policy allows, and at most MaxRedirects times.
func (p *Policy) CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= p.maxRedir {
		return fmt.Errorf("%w: more than %d redirects", ErrRefused, p.maxRedir)
	}
	if err := p.checkURL(req.URL); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// Transport returns a clone of http.DefaultTransport that dials through
// the policy and uses no proxy (a proxy would make the connections the
// policy checks).
func (p *Policy) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = p.DialContext
	return t
}

// special names the kind of a special-purpose address ("a loopback"), or
// "" for a public one.
func special(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "an unspecified"
	case a.IsLoopback():
		return "a loopback"
	case a.IsLinkLocalUnicast():
		return "a link-local (cloud metadata)"
	case a.IsPrivate():
		return "a private"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast"
	}
	for _, r := range reserved {
		if r.prefix.Contains(a) {
			return r.kind
		}
	}
	return ""
}

// reserved are the special-purpose ranges that netip's predicates do not
// cover (RFC 6890 and its updates).
var reserved = func() []reservedRange {
	var out []reservedRange
	for _, r := range [][2]string{
		{"0.0.0.0/8", "a \"this network\""},
		{"100.64.0.0/10", "a carrier-grade NAT"},
		{"192.0.0.0/24", "an IETF protocol"},
		{"192.0.2.0/24", "a documentation"},
		{"192.88.99.0/24", "a 6to4 relay"},
		{"198.18.0.0/15", "a benchmarking"},
		{"198.51.100.0/24", "a documentation"},
		{"203.0.113.0/24", "a documentation"},
		{"240.0.0.0/4", "a reserved"},
		{"64:ff9b::/96", "a NAT64"},
		{"64:ff9b:1::/48", "a NAT64"},
		{"100::/64", "a discard"},
		{"2001::/23", "an IETF protocol"},
		{"2001:db8::/32", "a documentation"},
		{"2002::/16", "a 6to4"},
		{"fec0::/10", "a site-local"},
	} {
		out = append(out, reservedRange{netip.MustParsePrefix(r[0]), r[1]})
	}
	return out
}()

type reservedRange struct {
	prefix netip.Prefix
	kind   string
}
