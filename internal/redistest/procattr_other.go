//go:build !linux

package redistest

import "syscall"

// procAttr is nil where there is no parent-death signal: a server outlives
// a test process that ends without its cleanups.
func procAttr() *syscall.SysProcAttr { return nil }
