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
// wait costs next to no CPU, where Go's own timers may fire a millisecond
// late. The timer is set timerLead before the wait's end, and what the
// wake-up leaves of the lead is spun.
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

// wait returns at t, never before: it sleeps on the timer until timerLead
// before t, then spins what is left (all of it, should the timer fail).
func (w *timerfd) wait(t time.Time) {
	if d := time.Until(t) - timerLead; d >= time.Microsecond { // (a zero value would disarm the timer)
		w.sleep(d)
	}
	waitUntil(t)
}

// sleep returns d from now, or at once if the kernel refuses the timer.
func (w *timerfd) sleep(d time.Duration) {
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(w.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno == 0 {
		var expirations [8]byte
		w.f.Read(expirations[:]) // a failed read leaves the wait to the caller's spin
	}
}

// timerLead is how long before a wait's end its timer fires: a sleeping
// goroutine wakes 30–70 µs after its timer on a VM (the vCPU's wake-up and
// the netpoller's), so a timer set for the end would make every wait that
// much longer; the lead is spun, when the wake-up leaves any of it.
// Through a proxy delaying each way by 100 µs (200 round trips on this
// 2-vCPU VM), the PING's median was 317 µs with no lead, 223 µs with this
// one, 224 µs spinning the whole wait (with half again as much CPU).
const timerLead = 50 * time.Microsecond

func (w *timerfd) close() { w.f.Close() }
