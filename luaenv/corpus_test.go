package luaenv

import (
	"fmt"
	"math/rand"
	"strings"
)

// This file builds the differential corpora: (operation, subject, pattern)
// cases for the pattern functions and HTTP requests for the thesis script.

var corpusSubjects = []string{
	"",
	"hello world from Lua",
	"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ab/2.3\r\nAccept: */*\r\n\r\n",
	"POST /form HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
	"GET / HTTP/1.1\rHost: bare-cr\r\r",
	"GET / HTTP/1.1\nHost: lf-only\n\n",
	"GET /a\x00b HTTP/1.1\r\nHost: a\x00b\r\nX:\x00\r\n\r\n",
	"a\x7fb c\td\x80e\xffe!~ \x01\x1f\x20\x21\x7e\x7f\x80\x9f\xa0\xfe",
	"THE (quick) [brown] {fox} jumps %% over 123 lazy dogs 0x1F ((nested) (x))",
	"  key = value  \n k2=v2\tk3 = v3 ",
	"aaa",
	"abcabcabc",
	": empty name\r\n:\r\n::\r\n",
	"x=1, y=22, z=333; a-b_c.d",
	strings.Repeat("A", 3000) + "\r\n" + strings.Repeat("b:", 200),
	binaryGarbage(1, 200),
}

var corpusPatterns = []string{
	"%g+", "(%g*):%s*([^\r\n]+)", "GET (%g+) HTTP", "^GET", "\r\n", "%s+", "%a+",
	"%d+", "%x+", "%p", "%c+", "%w+", "%l+", "%u+", "%G+", "%S+", "%D", "[%w_]+",
	"[^%s]+", "[a-f%d]+", "[]]", "[^]]+", "[a-]", "[-a]", "[%a-z]", "%b()", "%b[]",
	"%f[%w]%w+", "%f[%W]", "%f[%z]", "%f[^%z]", "()", "()a()", "(a)(b)?", "(h)(e)(l)",
	"(.)%1", "(%a)%1", "^(%w+)", "(%w+)$", "$", "^", "^$", ".-", ".-b", "a*", "a-",
	"a?", "x*", "%z", "[%z]", "%.", "%%", ".*", "(%d+)%.?(%d*)", "%s*$", "^%s*(.-)%s*$",
	"[\x00-\x1f]", "[\x80-\xff]+", "[^\x80-\xff]+", "%g", "[%g]+", "[^%g]", "%G",
	"(%w+)=(%w+)", "(%w+)%s*=%s*(%w+)", "%$", "a$b", "^^", "[%]]", "[%^]", "[^^]",
	"(()b)", "((a)(b))", "((.)(.)(.))",
	// shortcuts of patfast.go: a literal after a repetition or a capture
	"(%g*):", "(%a+)%.", "%w+%-", "x*b", "a+:", "%g-:", "(a*)x", "(%w*)%%", "[ab]*c",
	"()%a*()b", "%s*:?", ".*%)", "(%d+)%.(%d+)", "(H)ost", "((H)o)st", "()()H", "%-", "%.%.",
	"a*)b", "%a+)%s", "(%a*))", "%w-)x", "A*\r", "b:b", "^A+\r\n", "(A)", "%:",
	// malformed
	"%", "[a", "[", "[^", "(", ")", "%b", "%ba", "%f", "%fx", "(()", "%1", "(a%2)",
	"[%", "(a)%2", "%0", "(a%1)", strings.Repeat("(", 33) + "a" + strings.Repeat(")", 33),
}

var corpusRepls = []string{"<%0>", "%1-%0", "%%", "%2", "%", "%x", "[%1]", "", "x%1y%1z"}

func binaryGarbage(seed int64, n int) string {
	r := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	r.Read(b)
	return string(b)
}

type diffCase struct {
	op, s, p, a3, a4 string
}

// patternCases is the cross product of the subjects and patterns with the
// main operations, plus cases for init, plain find, max n and replacements.
func patternCases() []diffCase {
	var cs []diffCase
	for _, s := range corpusSubjects {
		for _, p := range corpusPatterns {
			cs = append(cs,
				diffCase{op: "find", s: s, p: p},
				diffCase{op: "match", s: s, p: p},
				diffCase{op: "gmatch", s: s, p: p},
				diffCase{op: "gsubs", s: s, p: p, a3: "<%0>"},
			)
		}
		for _, p := range []string{"%w+", "(%w+)", "()", "(%w)(%w*)", "x", ""} {
			cs = append(cs, diffCase{op: "gsubt", s: s, p: p},
				diffCase{op: "gsubf", s: s, p: p},
				diffCase{op: "gsubf", s: s, p: p, a4: "2"})
		}
		for _, r := range corpusRepls {
			cs = append(cs, diffCase{op: "gsubs", s: s, p: "(%w)(%w?)", a3: r},
				diffCase{op: "gsubs", s: s, p: "()%s", a3: r})
		}
		for _, init := range []string{"-100", "-3", "-1", "0", "1", "2", "5", "21", "22", "1000"} {
			cs = append(cs, diffCase{op: "find", s: s, p: "%w+", a3: init},
				diffCase{op: "find", s: s, p: "", a3: init},
				diffCase{op: "findp", s: s, p: "a", a3: init},
				diffCase{op: "findp", s: s, p: "%w+", a3: init},
				diffCase{op: "match", s: s, p: "^(%w*)", a3: init})
		}
		for _, n := range []string{"-1", "0", "1", "3"} {
			cs = append(cs, diffCase{op: "gsubs", s: s, p: "%w", a3: "-", a4: n},
				diffCase{op: "gsubs", s: s, p: "", a3: "-", a4: n})
		}
	}
	// recursion depth (MAXCCALLS) and long subjects
	long := strings.Repeat("a", 300)
	cs = append(cs,
		diffCase{op: "find", s: long, p: strings.Repeat("a?", 150)},
		diffCase{op: "find", s: long, p: strings.Repeat("a?", 250)},
		diffCase{op: "match", s: long, p: strings.Repeat("(a)", 31)},
		diffCase{op: "match", s: long, p: strings.Repeat("(a)", 32)},
		diffCase{op: "match", s: long, p: strings.Repeat("(a)", 33)},
		diffCase{op: "find", s: long + "b", p: ".-.-b"},
		diffCase{op: "gsubs", s: long, p: "a", a3: "%0%0"},
	)
	return cs
}

// httpRequests is the corpus for the thesis script: valid requests, and
// malformed ones (bare CR, NUL bytes, binary garbage, long lines, %g edge
// characters in paths and header names).
func httpRequests() []string {
	var rs []string
	paths := []string{"/", "/index.html", "/a?b=c&d=%20", "/\x7f", "/a\x80b", "/a b", "/a\tb",
		"/\xff", "", "/" + strings.Repeat("x", 5000), "/~!@#$%^&*()_+{}|:\"<>?"}
	hdrs := []string{
		"Host: example.com\r\n",
		"Host: example.com\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n",
		"Host:example.com\r\n",
		"Host:   \r\n",
		"Host: a\x00b\r\n",
		"X-\x7fName: v\r\n",
		"X Name: v\r\n",
		": no-name\r\n",
		"NoColon\r\n",
		"Host: " + strings.Repeat("h", 9000) + "\r\n",
		"Host: a\rb\r\n",
		"Tab\tName: v\r\n",
		"\x80\x81: high\r\n",
	}
	for _, p := range paths {
		for _, h := range hdrs {
			rs = append(rs, "GET "+p+" HTTP/1.1\r\n"+h+"\r\n")
		}
	}
	rs = append(rs,
		"",
		"\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1",
		"GET / HTTP/1.1\rHost: x\r\r",
		"GET / HTTP/1.1\nHost: x\n\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
		"HEAD / HTTP/1.0\r\nHost: x\r\n\r\n",
		"get / HTTP/1.1\r\nHost: x\r\n\r\n",
		" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET\x00/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: y\r\n\r\n",
		strings.Repeat("GET / HTTP/1.1\r\n", 100),
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // TLS ClientHello start
		"GET / HTTP/1.1\r\n:\r\n",
		"GET / HTTP/1.1\r\n::::\r\n",
	)
	for seed := int64(1); seed <= 20; seed++ {
		g := binaryGarbage(seed, 50+int(seed)*37)
		rs = append(rs, g, "GET / HTTP/1.1\r\n"+g+"\r\n", g+"\r\nHost: x\r\n")
	}
	for i := range 10 {
		rs = append(rs, fmt.Sprintf("GET /page%d HTTP/1.1\r\nHost: h%d\r\nX-N: %d\r\n\r\n", i, i, i))
	}
	return rs
}
