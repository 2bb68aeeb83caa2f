//go:build !race

package luaenv

const raceEnabled = false
