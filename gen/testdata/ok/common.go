// Package ok is a generator test input: two marked algorithms written in the
// accepted subset of Go, together exercising every construct the translator
// accepts. Its outputs are compared with the files under golden/.
package ok

// Params configures every algorithm. Name and Spare are never read by a marked
// function, so they reach neither the scripts nor their arguments.
type Params struct {
	Name   string
	Period int64
	Spare  int64
	Limit  int64
	Burst  int64
}

// Decision is what one step decides.
type Decision struct {
	Limited    bool
	Remaining  int64
	RetryAfter int64
	ResetAfter int64
}

// Micros is a named integer type; its values are int64 to the translator.
type Micros int64

const (
	// Never is a negative constant.
	Never = -1
	// Scale is a typed constant.
	Scale int64 = 1000
	// Tick is a constant of a named type.
	Tick Micros = 250
	// Strict is a bool constant.
	Strict = false
	// Big is the largest integer a Lua number holds exactly.
	Big = 1 << 53
)

// floorDiv returns ⌊a/b⌋ for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// ceilDiv returns ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// describe is not marked, so it may use anything.
func describe(p Params) string {
	for i := 0; i < 2; i++ {
		p.Name += "!"
	}
	return p.Name
}

var _ = describe

// Algorithm names an algorithm: the generator takes each algorithm's code in
// the Redis script from the constant named like it.
type Algorithm uint8

// The algorithms' codes.
const (
	Meter Algorithm = iota + 1
	Window
)
