//go:build !linux

package latencyproxy

// newWaiter returns a spinner: only Linux has timerfd.
func newWaiter() waiter { return spinner{} }
