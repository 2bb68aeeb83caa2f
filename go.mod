module github.com/luawrap/luawrap

go 1.26.8

require (
	github.com/seccomp/libseccomp-golang v0.11.1
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require github.com/yuin/gopher-lua v1.1.2
