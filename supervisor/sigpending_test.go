package supervisor

import "testing"

func TestSigStateInterrupts(t *testing.T) {
	status := func(pid, tgid, pnd, shd, blk string) []byte {
		return []byte("Name:\tx\nTgid:\t" + tgid + "\nPid:\t" + pid + "\nSigQ:\t0/1\nSigPnd:\t" + pnd +
			"\nShdPnd:\t" + shd + "\nSigBlk:\t" + blk + "\nSigIgn:\t0000000000000000\n")
	}
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"nothing pending", status("10", "10", "0000000000000000", "0000000000000000", "0000000000000000"), false},
		{"SIGINT to the process, leader", status("10", "10", "0000000000000000", "0000000000000002", "0000000000000000"), true},
		{"SIGINT to the process, other thread", status("11", "10", "0000000000000000", "0000000000000002", "0000000000000000"), false},
		{"thread-directed", status("11", "10", "0000000000002000", "0000000000000000", "0000000000000000"), true},
		{"blocked", status("10", "10", "0000000000002000", "0000000000000002", "0000000000002002"), false},
	} {
		st, err := parseSigState(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := st.interrupts(); got != c.want {
			t.Errorf("%s: interrupts = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := parseSigState([]byte("Name:\tx\n")); err == nil {
		t.Error("short status accepted")
	}
}
