package e2e

import (
	"io"
	"strings"
	"testing"

	"github.com/luawrap/luawrap/testapps"
)

// TestBytesArrivingDuringInspection: bytes that arrive while the script is
// judging earlier ones are not delivered with them. The script takes
// 100 ms on "SLOW1"; the client sends "EVIL" meanwhile. Whether "EVIL"
// arrived before the inspection (then the script saw "SLOW1EVIL" and
// refused all) or during it (then "SLOW1" alone was approved and "EVIL"
// was judged, and refused, on its own), the program never receives it;
// the test sends it during the inspection, so "SLOW1" is echoed.
func TestBytesArrivingDuringInspection(t *testing.T) {
	t.Parallel()
	script := writeScript(t, `
function process(s)
  if s:find("SLOW", 1, true) then
    print("inspecting " .. s)
    local t = os.clock()
    while os.clock() - t < 0.1 do end
  end
  return not s:find("EVIL", 1, true)
end`)
	bin := testapps.Build(t, "echo_server")
	for range 2 {
		srv := startWrapped(t, nil, nil, bin, "-b", "4096", "0", script)
		c := dialSend(t, srv.Addr(), "SLOW1")
		// Send "EVIL" once the script is judging "SLOW1" (its print
		// reaches luawrap's log), so it arrives during the inspection.
		if !poll(e2eWait, func() bool { return strings.Contains(srv.Stderr(), "inspecting SLOW1") }) {
			t.Fatalf("the script never started:\n%s", srv.Stderr())
		}
		if _, err := c.Write([]byte("EVIL")); err != nil {
			t.Fatal(err)
		}
		echo, _ := io.ReadAll(c)
		c.Close()
		if string(echo) != "SLOW1" {
			t.Fatalf("program received %q: only the approved \"SLOW1\" may pass", echo)
		}
		mustLine(t, srv, "refused")
	}
}
