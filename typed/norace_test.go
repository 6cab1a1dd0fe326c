//go:build !race

package typed_test

// raceEnabled reports a build with the race detector, under which a
// sync.Pool drops items at random, so pooled paths allocate.
const raceEnabled = false
