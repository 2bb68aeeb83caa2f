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
	if n := a.reserve(0); n != -1 {
		t.Fatalf("full again: %d", n)
	}
	for _, n := range []int{100, 101, 102} {
		a.installed(n)
	}
	// The program closed 100 and 102; 103 is still being installed.
	if err := a.reclaim(func() (map[int]bool, error) { return map[int]bool{101: true, 5: true}, nil }); err != nil {
		t.Fatal(err)
	}
	if n := a.reserve(0); n != 100 {
		t.Fatalf("after reclaim: %d, want 100", n)
	}
	if n := a.reserve(0); n != 102 {
		t.Fatalf("after reclaim: %d, want 102 (101 open, 103 in flight)", n)
	}
	if n := a.reserve(0); n != -1 {
		t.Fatalf("in-flight 103 was reclaimed: %d", n)
	}
	if n := a.reserve(102); n != -1 {
		t.Fatalf("reserve(102) = %d", n)
	}
}
