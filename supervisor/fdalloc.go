package supervisor

import "sync"

// fdAlloc tracks which numbers of the managed range one process uses, as far
// as luawrap knows. It is only a hint: fork, exec and the program's own
// dup2 can change the table behind luawrap's back, so every candidate is
// proven free in the target before use (see proc.freeFD).
type fdAlloc struct {
	mu   sync.Mutex
	r    FDRange
	used map[int]bool
	next int // lowest number that may be free
}

func newFDAlloc(r FDRange) *fdAlloc {
	return &fdAlloc{r: r, used: map[int]bool{}, next: r.Base}
}

// reserve marks and returns the lowest number >= from believed free, or -1.
// Reserving at once keeps two concurrent accepts from choosing one number.
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
			return n
		}
	}
	return -1
}

// take marks n used.
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

// release marks n free (the program closed it).
func (a *fdAlloc) release(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n < a.r.Base || n >= a.r.Limit {
		return
	}
	delete(a.used, n)
	if n < a.next {
		a.next = n
	}
}

// releaseRange marks [first, last] free (close_range).
func (a *fdAlloc) releaseRange(first, last uint64) {
	a.mu.Lock()
	lo := max(int(min(first, uint64(a.r.Limit))), a.r.Base)
	hi := int(min(last, uint64(a.r.Limit-1)))
	a.mu.Unlock()
	for n := lo; n <= hi; n++ {
		a.release(n)
	}
}
