// Package e2e holds luawrap's end-to-end tests: real programs (the C, Go
// and Python servers under testapps/) run under the luawrap binary, driven
// by real clients over loopback TCP. They check what a user of the
// original kernel module would see — bytes echoed exactly, refusals,
// exit statuses — rather than luawrap's internals.
//
// The package has no non-test code besides this file.
package e2e
