package supervisor

import "testing"

func TestFDAlloc(t *testing.T) {
	a := newFDAlloc(FDRange{Base: 100, Limit: 104})
	for want := 100; want < 104; want++ {
		if n := a.reserve(0); n != want {
			t.Fatalf("reserve = %d, want %d", n, want)
		}
	}
	if n := a.reserve(0); n != -1 {
		t.Fatalf("full range: reserve = %d, want -1", n)
	}
	a.release(101)
	if n := a.reserve(0); n != 101 {
		t.Fatalf("after release: %d, want 101", n)
	}
	a.releaseRange(0, ^uint64(0))
	if n := a.reserve(102); n != 102 {
		t.Fatalf("reserve(102) = %d", n)
	}
	if n := a.reserve(0); n != 100 {
		t.Fatalf("after close_range: %d, want 100", n)
	}
}
