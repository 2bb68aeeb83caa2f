package luaenv

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestPoolConcurrent judges from many goroutines at once (run with -race):
// every call gets its own state, and the states' globals are never shared
// by two calls (the script would see a foreign token otherwise). The limit is
// wall time, which includes waiting for a CPU: 16 goroutines on 2 CPUs next
// to endless loops need more than the default 50 ms.
func TestPoolConcurrent(t *testing.T) {
	limit := 250 * time.Millisecond
	if raceEnabled {
		limit = time.Second
	}
	p := mustPool(t, `
local parse = {}
function process(s)
  token = s                 -- a global written and read back within the call
  for i = 1, 50 do local _ = string.find(s, "(%g+):") end
  if s:match("^loop") then while true do end end
  return token == s and string.match(s, "GET (%g+) HTTP") ~= nil
end`, Options{MaxIdle: 4, Limits: Limits{Time: limit}})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				req := fmt.Sprintf("GET /%d/%d HTTP/1.1\r\nHost: x\r\n\r\n", g, i)
				start := time.Now()
				if r := p.Judge([]byte(req), nil); r.Verdict != Pass || r.Err != nil {
					t.Errorf("goroutine %d call %d: %+v after %v", g, i, r, time.Since(start))
					return
				}
				if g == 0 && i%100 == 0 { // some calls hit the time limit meanwhile
					if r := p.Judge([]byte("loop"), nil); !errors.Is(r.Err, ErrTimeLimit) {
						t.Errorf("loop: %+v", r)
					}
				}
			}
		}()
	}
	wg.Wait()
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	if idle > 4 {
		t.Errorf("%d idle states, MaxIdle 4", idle)
	}
}

func TestPoolClose(t *testing.T) {
	p := mustPool(t, "function process() return true end", Options{})
	p.Close()
	if r := p.Judge(nil, nil); !errors.Is(r.Err, ErrClosed) || r.Verdict != Refuse {
		t.Errorf("after Close: %+v", r)
	}
	p.Close() // idempotent
}
