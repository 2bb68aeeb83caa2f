package luaenv

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// Requests for the thesis benchmarks: what ab sends (valid), a request line
// without header fields (refused after the full gmatch scan) and one without
// CRLF (refused by the first find).
var benchRequests = []struct{ name, req string }{
	{"valid", "GET /index.html HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"},
	{"invalid", "GET /index.html HTTP/1.0\r\n\r\n"},
	{"nocrlf", "GET /index.html HTTP/1.0\nHost: 127.0.0.1:8080\nUser-Agent: ApacheBench/2.3\nAccept: */*\n\n"},
}

func BenchmarkThesisHTTP(b *testing.B) {
	p := thesisPool(b, Limits{})
	for _, r := range benchRequests {
		b.Run(r.name, func(b *testing.B) {
			data := []byte(r.req)
			c := benchConn()
			b.ReportAllocs()
			for b.Loop() {
				p.Judge(data, c)
			}
		})
	}
}

// BenchmarkLua54ThesisHTTP runs the same script on the same requests in C
// Lua 5.4 (b.N calls in one process) and reports its time per call as ns/op.
func BenchmarkLua54ThesisHTTP(b *testing.B) {
	needLua54(b)
	for _, r := range benchRequests {
		b.Run(r.name, func(b *testing.B) {
			out := runLua54(b, "testdata/bench_thesis.lua", thesisScript,
				hex.EncodeToString([]byte(r.req)), strconv.Itoa(b.N))
			ns, err := strconv.ParseFloat(strings.Fields(out[0])[0], 64)
			if err != nil {
				b.Fatal(out)
			}
			b.ReportMetric(ns, "ns/op")
		})
	}
}

func BenchmarkReturnTrue(b *testing.B) {
	p := mustPool(b, "function process() return true end", Options{})
	data := []byte("GET / HTTP/1.1\r\n\r\n")
	c := benchConn()
	b.ReportAllocs()
	for b.Loop() {
		p.Judge(data, c)
	}
}

func BenchmarkReturnTrueParallel(b *testing.B) {
	p := mustPool(b, "function process() return true end", Options{})
	data := []byte("GET / HTTP/1.1\r\n\r\n")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := benchConn()
		for pb.Next() {
			p.Judge(data, c)
		}
	})
}

// benchConn is a connection as the supervisor passes one with every call.
func benchConn() *Conn {
	return NewConn(1, netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:8080"))
}
