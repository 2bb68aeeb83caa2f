package supervisor

import "sync"

// fdAlloc tracks which numbers of the managed range one process uses, as far
// as luawrap knows. It is a hint: luawrap does not trap close (see
// filter.go), and fork, exec and the program's own dup2 change the table
// too, so every candidate is proven free in the target before use
// (procTable.freeFD) and the beliefs are refreshed from /proc (reclaim).
type fdAlloc struct {
	mu       sync.Mutex
	r        FDRange
	used     map[int]bool // believed open in the target
	inflight map[int]bool // reserved, install not finished: never reclaimed
	next     int          // lowest number that may be free
}

func newFDAlloc(r FDRange) *fdAlloc {
	return &fdAlloc{r: r, used: map[int]bool{}, inflight: map[int]bool{}, next: r.Base}
}

// reserve marks and returns the lowest number >= from believed free, or -1.
// Reserving at once keeps two concurrent accepts from choosing one number;
// the caller must call installed or release.
func (a *fdAlloc) reserve(from int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := max(from, a.r.Base)
	if from <= a.r.Base {
		start = a.next
	}
	for n := start; n < a.r.Limit; n++ {
		if !a.used[n] {
			a.takeLocked(n)
			a.inflight[n] = true
			return n
		}
	}
	return -1
}

// installed ends a reservation that succeeded: n is open in the target.
func (a *fdAlloc) installed(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.inflight, n)
}

// take marks n used (found open behind luawrap's back, or a dup2 target).
func (a *fdAlloc) take(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.takeLocked(n)
}

func (a *fdAlloc) takeLocked(n int) {
	if n < a.r.Base || n >= a.r.Limit {
		return
	}
	a.used[n] = true
	for a.next < a.r.Limit && a.used[a.next] {
		a.next++
	}
}

// release marks n free (a reservation that failed).
func (a *fdAlloc) release(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(n)
}

func (a *fdAlloc) releaseLocked(n int) {
	delete(a.inflight, n)
	delete(a.used, n)
	if n >= a.r.Base && n < a.next {
		a.next = n
	}
}

// reclaim replaces the beliefs with the target's fd table as list reports
// it. The lock is held across list, so a number installed meanwhile is
// either listed or still in flight: neither is freed.
func (a *fdAlloc) reclaim(list func() (map[int]bool, error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	open, err := list()
	if err != nil {
		return err
	}
	for n := range a.used {
		if !open[n] && !a.inflight[n] {
			a.releaseLocked(n)
		}
	}
	for n := range open {
		a.takeLocked(n)
	}
	return nil
}
