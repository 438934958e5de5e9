package main

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ptyRelay gives the command a terminal of its own when jail runs on one.
// The command's session gets the slave of a new pseudo-terminal as its
// controlling terminal; jail copies between the caller's terminal (in raw
// mode) and the master. The command never holds the caller's terminal, so
// TIOCSTI and terminal settings cannot reach it, and job control works.
type ptyRelay struct {
	master *os.File
	slave  *os.File
	term   []int         // which of the caller's 0-2 are terminals
	out    *os.File      // where the command's terminal output goes
	saved  *unix.Termios // the caller's terminal settings, restored at the end
	done   chan struct{} // closed when the output copy ends (EIO: no slave left)
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// terminalFDs lists which of the command's stdio are terminals.
func terminalFDs(stdio [3]*os.File) []int {
	var fds []int
	for fd, f := range stdio {
		if isTerminal(int(f.Fd())) {
			fds = append(fds, fd)
		}
	}
	return fds
}

// newPtyRelay opens a pseudo-terminal sized like the caller's, to stand in
// for the descriptors in term.
func newPtyRelay(term []int) (*ptyRelay, error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	master := os.NewFile(uintptr(m), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, os.NewSyscallError("ioctl(TIOCSPTLCK)", err)
	}
	// TIOCGPTPEER opens the slave from the master, with no path lookup.
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		master.Close()
		return nil, os.NewSyscallError("ioctl(TIOCGPTPEER)", errno)
	}
	r := &ptyRelay{master: master, slave: os.NewFile(s, "pty-slave"), term: term, done: make(chan struct{})}
	// Output goes to the caller's terminal: stdout if it is one, else stderr.
	r.out = os.Stderr
	for _, fd := range term {
		if fd == 1 {
			r.out = os.Stdout
		}
	}
	r.resize()
	return r, nil
}

// resize copies the caller's window size to the pseudo-terminal; the
// kernel then sends SIGWINCH to the command's foreground process group.
func (r *ptyRelay) resize() {
	if ws, err := unix.IoctlGetWinsize(r.term[0], unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// start puts the caller's terminal in raw mode (keys, Ctrl-C included, go
// to the command's terminal, which interprets them) and starts copying.
func (r *ptyRelay) start() error {
	go func() {
		defer close(r.done)
		_, _ = io.Copy(r.out, r.master) // ends with EIO: no slave left
	}()
	if r.term[0] != 0 {
		return nil // stdin is not a terminal: nothing to type, no raw mode
	}
	t, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		return os.NewSyscallError("ioctl(TCGETS)", err)
	}
	saved := *t
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	// Output processing stays on: what the command writes to a pipe of
	// the caller's (jail -- cmd | less) still reaches the terminal with
	// its newlines translated.
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(0, unix.TCSETS, t); err != nil {
		return os.NewSyscallError("ioctl(TCSETS)", err)
	}
	r.saved = &saved
	go func() { _, _ = io.Copy(r.master, os.Stdin) }()
	return nil
}

// finish waits briefly for the command's last output, then gives the
// caller's terminal its settings back.
func (r *ptyRelay) finish() {
	select {
	case <-r.done:
	case <-time.After(time.Second):
	}
	if r.saved != nil {
		_ = unix.IoctlSetTermios(0, unix.TCSETS, r.saved)
	}
	r.master.Close()
}
