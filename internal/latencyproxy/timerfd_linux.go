//go:build linux

package latencyproxy

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// clockMonotonic is Linux's CLOCK_MONOTONIC, the clock Go's monotonic
// readings (time.Until) come from.
const clockMonotonic = 1

// timerfd waits with a Linux timerfd: a kernel high-resolution timer read
// as a file. Armed for a wait's length, it becomes readable when the wait
// is over, and Go's netpoller wakes the goroutine blocked reading it: a
// wait costs no CPU and ends within the kernel's timer slack and the
// scheduler's wake-up, where Go's own timers may fire a millisecond late.
type timerfd struct {
	fd int
	f  *os.File // fd, non-blocking: reads park the goroutine, not a thread
}

// itimerspec is the kernel's struct itimerspec: a one-shot timer when
// interval is zero.
type itimerspec struct {
	interval, value syscall.Timespec
}

// newWaiter returns a timerfd, or a spinner where the kernel refuses one.
func newWaiter() waiter {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return spinner{}
	}
	return &timerfd{fd: int(fd), f: os.NewFile(fd, "timerfd")}
}

// wait returns at t, never before; should the timer fail, it spins.
func (w *timerfd) wait(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(w.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		waitUntil(t)
		return
	}
	var expirations [8]byte
	if _, err := w.f.Read(expirations[:]); err != nil {
		waitUntil(t)
		return
	}
	waitUntil(t) // returns at once, unless the clocks disagree by a hair
}

func (w *timerfd) close() { w.f.Close() }
