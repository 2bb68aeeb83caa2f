package main

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/luawrap/luawrap/supervisor"
)

// listenSpec is one --listen: [ADDR:]PORT[,script=FILE][,entry=NAME].
type listenSpec struct {
	addr   netip.Addr
	port   uint16
	script string
	entry  string
}

// parseListen reads a --listen value. ADDR is an IPv4 address or an IPv6
// one in brackets ([::1]:8080); without it any address matches.
func parseListen(v string) (listenSpec, error) {
	var l listenSpec
	parts := strings.Split(v, ",")
	where := parts[0]
	for _, opt := range parts[1:] {
		key, val, ok := strings.Cut(opt, "=")
		switch {
		case ok && key == "script" && val != "":
			l.script = val
		case ok && key == "entry" && val != "":
			l.entry = val
		default:
			return l, fmt.Errorf("--listen %q: unknown option %q (want script=FILE or entry=NAME)", v, opt)
		}
	}
	portText := where
	if i := strings.LastIndex(where, ":"); i >= 0 {
		host := where[:i]
		portText = where[i+1:]
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		} else if strings.Contains(host, ":") {
			return l, fmt.Errorf("--listen %q: write an IPv6 address in brackets, e.g. [::1]:8080", v)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return l, fmt.Errorf("--listen %q: %q is not an IP address", v, host)
		}
		l.addr = a
	}
	p, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || p == 0 {
		return l, fmt.Errorf("--listen %q: %q is not a port (1-65535)", v, portText)
	}
	l.port = uint16(p)
	return l, nil
}

// attachRules turns --script, --entry and the --listen values into the
// supervisor's rules, reading the script files. Without --listen, --script
// goes on every TCP listener.
func attachRules(script, entry string, listens []listenSpec, readFile func(string) ([]byte, error)) ([]*supervisor.Attach, error) {
	if len(listens) == 0 {
		if script == "" {
			return nil, nil
		}
		listens = []listenSpec{{}}
	}
	var rules []*supervisor.Attach
	for _, l := range listens {
		file, ent := l.script, l.entry
		if file == "" {
			file = script
		}
		if ent == "" {
			ent = entry
		}
		if file == "" {
			return nil, fmt.Errorf("--listen %s names no script: give --script FILE or script=FILE", specText(l))
		}
		src, err := readFile(file)
		if err != nil {
			return nil, fmt.Errorf("--script: %v", err)
		}
		rules = append(rules, &supervisor.Attach{Addr: l.addr, Port: l.port, Script: file, Source: src, Entry: ent})
	}
	return rules, nil
}

func specText(l listenSpec) string {
	if l.addr.IsValid() {
		return netip.AddrPortFrom(l.addr, l.port).String()
	}
	return strconv.Itoa(int(l.port))
}

var readFile = os.ReadFile
