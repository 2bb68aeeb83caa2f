package main

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseListen(t *testing.T) {
	for _, c := range []struct {
		in            string
		addr          string
		port          uint16
		script, entry string
		err           string
	}{
		{in: "8080", port: 8080},
		{in: "127.0.0.1:80", addr: "127.0.0.1", port: 80},
		{in: "[::1]:8443", addr: "::1", port: 8443},
		{in: "[::]:8080,script=a.lua,entry=check", addr: "::", port: 8080, script: "a.lua", entry: "check"},
		{in: "9090,entry=x", port: 9090, entry: "x"},
		{in: "::1:80", err: "brackets"},
		{in: "localhost:80", err: "not an IP address"},
		{in: "0", err: "not a port"},
		{in: "70000", err: "not a port"},
		{in: "80,scrip=a.lua", err: "unknown option"},
		{in: "80,script=", err: "unknown option"},
	} {
		l, err := parseListen(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		var want netip.Addr
		if c.addr != "" {
			want = netip.MustParseAddr(c.addr)
		}
		if l.addr != want || l.port != c.port || l.script != c.script || l.entry != c.entry {
			t.Errorf("%q: got %+v", c.in, l)
		}
	}
}

func TestAttachRules(t *testing.T) {
	files := map[string]string{"main.lua": "main", "admin.lua": "admin"}
	read := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, errors.New("open " + name + ": no such file or directory")
	}
	if r, err := attachRules("", "process", nil, read); err != nil || r != nil {
		t.Fatalf("no --script: %v %v", r, err)
	}
	r, err := attachRules("main.lua", "process", nil, read)
	if err != nil || len(r) != 1 || r[0].Port != 0 || string(r[0].Source) != "main" || r[0].Entry != "process" {
		t.Fatalf("--script alone must select every listener: %+v %v", r, err)
	}
	l1, _ := parseListen("8080")
	l2, _ := parseListen("[::1]:9090,script=admin.lua,entry=admin")
	r, err = attachRules("main.lua", "process", []listenSpec{l1, l2}, read)
	if err != nil || len(r) != 2 {
		t.Fatal(r, err)
	}
	if r[0].Port != 8080 || r[0].Script != "main.lua" || r[1].Script != "admin.lua" || r[1].Entry != "admin" || r[1].Addr != netip.MustParseAddr("::1") {
		t.Fatalf("rules %s %s", r[0].Spec(), r[1].Spec())
	}
	if _, err := attachRules("", "process", []listenSpec{l1}, read); err == nil || !strings.Contains(err.Error(), "names no script") {
		t.Fatalf("--listen without a script: %v", err)
	}
	if _, err := attachRules("gone.lua", "process", nil, read); err == nil || !strings.Contains(err.Error(), "gone.lua") {
		t.Fatalf("missing file: %v", err)
	}
}
