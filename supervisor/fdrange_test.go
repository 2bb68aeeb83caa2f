package supervisor

import "testing"

func TestChooseRange(t *testing.T) {
	for _, c := range []struct {
		soft, hard uint64
		base       int
		want       FDRange
		err        bool
	}{
		{1024, 1048576, 0, FDRange{1024, 1024 + 65536}, false},
		{1024, 4096, 0, FDRange{1024, 4096}, false},
		{20000, 20000, 0, FDRange{10000, 20000}, false},
		{1048576, 1048576, 0, FDRange{1048576 - 65536, 1048576}, false},
		{256, 100000, 0, FDRange{1024, 1024 + 65536}, false},
		{1024, 1024, 0, FDRange{512, 1024}, false},
		{100, 100, 0, FDRange{}, true},
		{1024, 1048576, 5000, FDRange{5000, 5000 + 65536}, false},
		{1024, 5010, 5000, FDRange{}, true},
	} {
		got, err := ChooseRange(c.soft, c.hard, c.base)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ChooseRange(%d, %d, %d) = %+v, %v; want %+v, err=%v", c.soft, c.hard, c.base, got, err, c.want, c.err)
		}
	}
}
