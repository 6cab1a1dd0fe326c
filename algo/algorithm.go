package algo

import (
	"fmt"
	"strings"
)

// Algorithm names one of the five rate-limiting algorithms. The zero value is
// not a valid algorithm; use one of the constants.
type Algorithm uint8

// The algorithms, with throttled-py's string names.
const (
	FixedWindow   Algorithm = iota + 1 // "fixed_window": counter per window aligned to the epoch
	SlidingWindow                      // "sliding_window": two-window weighted counter
	TokenBucket                        // "token_bucket": continuous refill, capacity Burst
	LeakingBucket                      // "leaking_bucket": meter that drains continuously
	GCRA                               // "gcra": generic cell rate algorithm (virtual scheduling)
)

// Algorithms lists every algorithm in a fixed order.
var Algorithms = []Algorithm{FixedWindow, SlidingWindow, TokenBucket, LeakingBucket, GCRA}

var algorithmNames = [...]string{
	FixedWindow:   "fixed_window",
	SlidingWindow: "sliding_window",
	TokenBucket:   "token_bucket",
	LeakingBucket: "leaking_bucket",
	GCRA:          "gcra",
}

// Valid reports whether a is one of the five algorithms.
func (a Algorithm) Valid() bool { return a >= FixedWindow && a <= GCRA }

// String returns throttled-py's name of the algorithm, such as "token_bucket".
func (a Algorithm) String() string {
	if a.Valid() {
		return algorithmNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// IsBucket reports whether a is one of the burst-capable algorithms (token
// bucket, leaky bucket, GCRA), whose capacity is the quota's burst. The
// window algorithms' capacity is the quota's limit and they ignore burst.
func (a Algorithm) IsBucket() bool { return a == TokenBucket || a == LeakingBucket || a == GCRA }

// MarshalText encodes a as its throttled-py name.
func (a Algorithm) MarshalText() ([]byte, error) {
	if !a.Valid() {
		return nil, invalid("algorithm", a, "not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra")
	}
	return []byte(a.String()), nil
}

// UnmarshalText decodes a throttled-py name, as ParseAlgorithm does.
func (a *Algorithm) UnmarshalText(b []byte) error {
	v, err := ParseAlgorithm(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAlgorithm returns the algorithm with the given throttled-py name. Case and
// surrounding space are ignored, and "leaky_bucket" is accepted for
// "leaking_bucket".
func ParseAlgorithm(name string) (Algorithm, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "leaky_bucket" {
		return LeakingBucket, nil
	}
	for _, a := range Algorithms {
		if algorithmNames[a] == n {
			return a, nil
		}
	}
	return 0, invalid("algorithm", name, "not one of fixed_window, sliding_window, token_bucket, leaking_bucket, gcra")
}
