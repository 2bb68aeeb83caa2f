package luaenv

import (
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// Boxing a string or a number into a lua.LValue (an interface) makes Go
// allocate a 16-byte string header or an 8-byte float for each value. The
// pattern functions push several such values per message (captures,
// positions) and Judge pushes the message itself; boxer amortizes those
// allocations over slabs, as gopher-lua's own allocator (alloc.go) does for
// the numbers its VM computes. A value points into its slab, which stays
// alive as long as any value from it does: at most boxSlab values, so the
// memory kept beyond the values themselves is bounded by one slab per value.
const boxSlab = 32

// iface is the layout of a non-empty interface value (as in gopher-lua's
// alloc.go): type/method table, then a pointer to the boxed value.
type iface struct {
	tab  unsafe.Pointer
	data unsafe.Pointer
}

var (
	stringTab = tabOf(lua.LString(""))
	numberTab = tabOf(lua.LNumber(0))
)

func tabOf(v lua.LValue) unsafe.Pointer { return (*iface)(unsafe.Pointer(&v)).tab }

// boxer hands out LValues whose payload lives in its current slab. It is
// used by one state, and a state runs one call at a time.
type boxer struct {
	strs []string
	nums []float64
}

// str is lua.LString(s) as an LValue, without a header allocation per value.
func (b *boxer) str(s string) lua.LValue {
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, boxSlab)
	}
	b.strs = append(b.strs, s)
	var v lua.LValue
	p := (*iface)(unsafe.Pointer(&v))
	p.tab, p.data = stringTab, unsafe.Pointer(&b.strs[len(b.strs)-1])
	return v
}

// num is lua.LNumber(n) as an LValue, without a float allocation per value.
func (b *boxer) num(n int) lua.LValue {
	if len(b.nums) == cap(b.nums) {
		b.nums = make([]float64, 0, boxSlab)
	}
	b.nums = append(b.nums, float64(n))
	var v lua.LValue
	p := (*iface)(unsafe.Pointer(&v))
	p.tab, p.data = numberTab, unsafe.Pointer(&b.nums[len(b.nums)-1])
	return v
}
