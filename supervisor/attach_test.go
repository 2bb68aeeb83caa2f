package supervisor

import (
	"net/netip"
	"testing"
)

func TestAttachMatches(t *testing.T) {
	ap := netip.MustParseAddrPort
	any8080 := &Attach{Port: 8080}
	lo8080 := &Attach{Addr: netip.MustParseAddr("127.0.0.1"), Port: 8080}
	all := &Attach{}
	for _, c := range []struct {
		rule  *Attach
		local string
		want  bool
	}{
		{all, "0.0.0.0:1", true},
		{all, "[::]:443", true},
		{any8080, "127.0.0.1:8080", true},
		{any8080, "[::]:8080", true},
		{any8080, "127.0.0.1:8081", false},
		{lo8080, "127.0.0.1:8080", true},
		{lo8080, "[::ffff:127.0.0.1]:8080", true}, // a mapped address is its IPv4 one
		{lo8080, "0.0.0.0:8080", false},           // bound elsewhere, even if it covers it
		{lo8080, "127.0.0.2:8080", false},
	} {
		if got := c.rule.matches(ap(c.local)); got != c.want {
			t.Errorf("%s matches %s: %v, want %v", c.rule.Spec(), c.local, got, c.want)
		}
	}
}
