package seccomp

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxInsns is BPF_MAXINSNS, the kernel's limit on a classic BPF program.
const maxInsns = 4096

// Load installs p as the calling process's seccomp filter, with the raw
// seccomp(SECCOMP_SET_MODE_FILTER) system call: no cgo, no libseccomp in
// the child. A nil p is a no-op.
//
// The caller must have set no_new_privs first (prctl(PR_SET_NO_NEW_PRIVS)):
// without CAP_SYS_ADMIN the kernel refuses a filter otherwise (EACCES), so
// that a filter cannot fool a setuid program. Load is the last step before
// execve, after capabilities are dropped, because the filter may deny the
// very calls the set-up needs.
//
// SECCOMP_FILTER_FLAG_TSYNC applies the filter to every thread of the
// process, not only the calling one: Go may run the following execve on
// another OS thread unless the caller locked it, and only the thread that
// calls execve survives into the command. With TSYNC the filter is in
// force whichever thread that is; the kernel also copies no_new_privs to
// the other threads.
func Load(p *Program) error {
	if p == nil {
		return nil
	}
	n := len(p.BPF) / 8
	if len(p.BPF)%8 != 0 || n == 0 || n > maxInsns {
		return fmt.Errorf("seccomp: bad program: %d bytes, want a multiple of 8 up to %d", len(p.BPF), 8*maxInsns)
	}
	// Decode into properly typed and aligned sock_filter structs.
	insns := make([]unix.SockFilter, n)
	for i := range insns {
		b := p.BPF[8*i : 8*i+8]
		insns[i] = unix.SockFilter{
			Code: *(*uint16)(unsafe.Pointer(&b[0])),
			Jt:   b[2],
			Jf:   b[3],
			K:    *(*uint32)(unsafe.Pointer(&b[4])),
		}
	}
	prog := unix.SockFprog{Len: uint16(n), Filter: &insns[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		err := os.NewSyscallError("seccomp", errno)
		if errors.Is(errno, unix.EACCES) {
			return fmt.Errorf("%w (no_new_privs not set?)", err)
		}
		return err
	}
	if r != 0 {
		// With TSYNC, a positive result is the id of a thread that could
		// not be synchronised (it has a diverging filter).
		return os.NewSyscallError("seccomp", fmt.Errorf("thread %d could not be synchronised (TSYNC)", r))
	}
	return nil
}
