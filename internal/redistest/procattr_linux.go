package redistest

import "syscall"

// procAttr kills a server when the thread that started it ends, which in
// a test process is when the process does: a test binary killed by its
// -timeout, or a fuzzing worker the coordinator kills, runs no cleanups,
// and its servers would otherwise live on. (Go ends a thread only when a
// goroutine locked to it exits; nothing in a test locks the goroutines
// that start servers.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
