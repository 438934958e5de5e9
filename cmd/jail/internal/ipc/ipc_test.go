package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (parent, child *os.File) {
	t.Helper()
	parent, child, err := Pair()
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	t.Cleanup(func() { parent.Close(); child.Close() })
	return parent, child
}

func jsonString(t *testing.T, n int) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(strings.Repeat("x", n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSendRecv(t *testing.T) {
	tests := []struct {
		name string
		msg  func(t *testing.T) Msg
	}{
		{"type only", func(*testing.T) Msg { return Msg{Type: TypeIDMapDone} }},
		{"exited", func(*testing.T) Msg { return Msg{Type: TypeExited, Code: 3, Signal: 9} }},
		{"error", func(*testing.T) Msg {
			return Msg{Type: TypeError, Err: &StageError{Stage: "fs", Op: "mount", Path: "/usr", Errno: int(unix.EPERM), Detail: "MS_BIND"}}
		}},
		{"small data", func(t *testing.T) Msg { return Msg{Type: TypePlan, Data: json.RawMessage(`{"version":1}`)} }},
		{"64 KiB data", func(t *testing.T) Msg { return Msg{Type: TypePlan, Data: jsonString(t, 64<<10)} }},
		// A plan can hold file mounts of up to 1 MiB each (profile.MaxFileContent).
		{"2 MiB data", func(t *testing.T) Msg { return Msg{Type: TypePlan, Data: jsonString(t, 2<<20)} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent, child := pair(t)
			want := tc.msg(t)
			// A large message spans packets and Send blocks while the
			// receive queue is full, so it runs beside Recv.
			sent := make(chan error, 1)
			go func() { sent <- Send(parent, want) }()
			got, err := Recv(child)
			if err != nil {
				t.Fatalf("Recv: %v (Send: %v)", err, <-sent)
			}
			if err := <-sent; err != nil {
				t.Fatalf("Send of a %d-byte payload: %v", len(want.Data), err)
			}
			if !reflect.DeepEqual(got, want) {
				if len(want.Data) > 100 {
					t.Fatalf("round trip changed the message: Data length %d, want %d", len(got.Data), len(want.Data))
				}
				t.Fatalf("round trip: got %+v, want %+v", got, want)
			}
		})
	}
}

// Packets keep their boundaries: two messages sent back to back are
// received as two, in order, and each direction works.
func TestSendRecvSequence(t *testing.T) {
	parent, child := pair(t)
	msgs := []Msg{{Type: TypeIDMapDone}, {Type: TypePlan, Data: json.RawMessage(`[1,2,3]`)}, {Type: TypeExec}}
	for _, m := range msgs {
		if err := Send(parent, m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for i, want := range msgs {
		got, err := Recv(child)
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Recv %d = %+v, want %+v", i, got, want)
		}
	}
	if err := Send(child, Msg{Type: TypeExited, Code: 1}); err != nil {
		t.Fatalf("Send back: %v", err)
	}
	if got, err := Recv(parent); err != nil || got.Type != TypeExited || got.Code != 1 {
		t.Errorf("Recv back = %+v, %v", got, err)
	}
}

func TestRecvEOF(t *testing.T) {
	parent, child := pair(t)
	if err := Send(parent, Msg{Type: TypeIDMapDone}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	parent.Close()
	// A packet queued before the close is still delivered.
	if m, err := Recv(child); err != nil || m.Type != TypeIDMapDone {
		t.Fatalf("Recv = %+v, %v; want the queued message", m, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := Recv(child); err != io.EOF {
			t.Fatalf("Recv after close = %v, want io.EOF", err)
		}
	}
}

func TestRecvBadJSON(t *testing.T) {
	parent, child := pair(t)
	if _, err := unix.Write(int(parent.Fd()), []byte("\x01{not json")); err != nil { // a final packet
		t.Fatal(err)
	}
	_, err := Recv(child)
	if err == nil || !strings.HasPrefix(err.Error(), "decode message: ") {
		t.Fatalf("Recv = %v, want a decode error", err)
	}
}

func TestStageErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  StageError
		want string
	}{
		{"full", StageError{Stage: "fs", Op: "mount", Path: "/usr", Errno: int(unix.EPERM), Detail: "detail"},
			"fs: mount /usr: operation not permitted (detail)"},
		{"no path", StageError{Stage: "net", Op: "setup lo", Errno: int(unix.EPERM)},
			"net: setup lo: operation not permitted"},
		{"no errno", StageError{Stage: "fs", Op: "verify", Detail: "want ro, found rw"},
			"fs: verify (want ro, found rw)"},
		{"op only", StageError{Stage: "exec", Op: "something failed"},
			"exec: something failed"},
		{"path no errno", StageError{Stage: "exec", Op: "execve", Path: "/bin/x", Detail: "exec format error"},
			"exec: execve /bin/x (exec format error)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStageErrorIs(t *testing.T) {
	var err error = &StageError{Stage: "fs", Op: "mount", Errno: int(unix.EPERM)}
	if !errors.Is(err, unix.EPERM) {
		t.Error("errors.Is(StageError{EPERM}, EPERM) = false")
	}
	if errors.Is(err, unix.EACCES) {
		t.Error("errors.Is(StageError{EPERM}, EACCES) = true")
	}
	if !errors.Is(fmt.Errorf("stage 2: %w", err), unix.EPERM) {
		t.Error("errors.Is through a wrap = false")
	}
	if errors.Is(&StageError{Stage: "fs", Op: "verify"}, unix.Errno(0)) {
		t.Error("a StageError without errno matches Errno(0)")
	}
	if (&StageError{}).Unwrap() != nil {
		t.Error("Unwrap of a StageError without errno is not nil")
	}
	// It survives the wire.
	b, err2 := json.Marshal(Msg{Type: TypeError, Err: err.(*StageError)})
	if err2 != nil {
		t.Fatal(err2)
	}
	var m Msg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(m.Err, unix.EPERM) {
		t.Error("errors.Is after a JSON round trip = false")
	}
}

func TestAsStageError(t *testing.T) {
	existing := &StageError{Stage: "net", Op: "ioctl", Errno: int(unix.EPERM)}
	// Only the structured fields are compared (Stage, Path, Errno,
	// Detail, and Op where it is a syscall name); the message must still
	// carry the original error's text.
	tests := []struct {
		name   string
		err    error
		want   StageError
		op     bool     // compare Op too
		inText []string // substrings of Error()
	}{
		{
			name:   "PathError",
			err:    &os.PathError{Op: "mkdir", Path: "/newroot/usr", Err: unix.EROFS},
			want:   StageError{Stage: "fs", Op: "mkdir", Path: "/newroot/usr", Errno: int(unix.EROFS)},
			op:     true,
			inText: []string{"fs: ", "mkdir", "/newroot/usr", "read-only file system"},
		},
		{
			name:   "wrapped PathError",
			err:    fmt.Errorf("create mountpoint: %w", &os.PathError{Op: "open", Path: "/x", Err: unix.ENOENT}),
			want:   StageError{Stage: "fs", Op: "open", Path: "/x", Errno: int(unix.ENOENT)},
			op:     true,
			inText: []string{"open", "/x", "no such file or directory"},
		},
		{
			name:   "SyscallError",
			err:    os.NewSyscallError("pivot_root", unix.EINVAL),
			want:   StageError{Stage: "fs", Op: "pivot_root", Errno: int(unix.EINVAL)},
			op:     true,
			inText: []string{"pivot_root", "invalid argument"},
		},
		{
			name:   "wrapped bare errno keeps the context",
			err:    fmt.Errorf("ctx: %w", unix.EACCES),
			want:   StageError{Stage: "fs", Errno: int(unix.EACCES)},
			inText: []string{"fs: ctx", "permission denied"},
		},
		{
			name:   "bare errno",
			err:    unix.EPERM,
			want:   StageError{Stage: "fs", Errno: int(unix.EPERM)},
			inText: []string{"operation not permitted"},
		},
		{
			name:   "PathError wrapping a non-errno error",
			err:    &os.PathError{Op: "execve", Path: "/bin/x", Err: errors.New("exec format error")},
			want:   StageError{Stage: "fs", Op: "execve", Path: "/bin/x", Detail: "exec format error"},
			op:     true,
			inText: []string{"execve", "/bin/x", "exec format error"},
		},
		{
			name:   "plain error",
			err:    errors.New("verify: /usr is rw"),
			want:   StageError{Stage: "fs"},
			inText: []string{"fs: verify: /usr is rw"},
		},
		{
			name:   "StageError is kept as is",
			err:    fmt.Errorf("wrap: %w", existing),
			want:   *existing,
			op:     true,
			inText: []string{"net: ioctl: operation not permitted"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AsStageError("fs", tc.err)
			if got == nil {
				t.Fatal("AsStageError returned nil")
			}
			if got.Stage != tc.want.Stage || got.Path != tc.want.Path || got.Errno != tc.want.Errno || got.Detail != tc.want.Detail {
				t.Errorf("AsStageError = %+v, want %+v", *got, tc.want)
			}
			if tc.op && got.Op != tc.want.Op {
				t.Errorf("Op = %q, want %q", got.Op, tc.want.Op)
			}
			for _, s := range tc.inText {
				if !strings.Contains(got.Error(), s) {
					t.Errorf("Error() = %q, missing %q", got.Error(), s)
				}
			}
			var errno unix.Errno
			if errors.As(tc.err, &errno) && !errors.Is(got, errno) {
				t.Errorf("errors.Is(result, %v) = false", errno)
			}
			// Every field survives the wire.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var back StageError
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.Error() != got.Error() || back.Errno != got.Errno {
				t.Errorf("after JSON: %q, want %q", back.Error(), got.Error())
			}
		})
	}
}

// openFds counts this process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// sameFile says whether two descriptors are the same open file's.
func sameFile(t *testing.T, a, b int) bool {
	t.Helper()
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// Descriptors travel with a message, small or spanning packets: the
// receiver gets new ones, close-on-exec, for the same files, in order, and
// the sender keeps its own.
func TestSendRecvFds(t *testing.T) {
	for _, size := range []int{0, 100, 2 << 20} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			parent, child := pair(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			f, err := os.CreateTemp(t.TempDir(), "fd")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sent := []int{int(r.Fd()), int(w.Fd()), int(f.Fd())}
			want := Msg{Type: TypeExec, Fds: sent}
			if size > 0 {
				want.Data = jsonString(t, size)
			}
			done := make(chan error, 1)
			go func() { done <- Send(parent, want) }()
			got, err := Recv(child)
			if err != nil {
				t.Fatalf("Recv: %v (Send: %v)", err, <-done)
			}
			if err := <-done; err != nil {
				t.Fatalf("Send: %v", err)
			}
			defer func() {
				for _, fd := range got.Fds {
					unix.Close(fd)
				}
			}()
			if got.Type != want.Type || len(got.Data) != len(want.Data) || len(got.Fds) != 3 {
				t.Fatalf("got %s with %d bytes and fds %v, want %s with %d bytes and 3 fds", got.Type, len(got.Data), got.Fds, want.Type, len(want.Data))
			}
			for i, fd := range got.Fds {
				if fd == sent[i] {
					t.Errorf("fd %d: received the sender's own number", i)
				}
				if !sameFile(t, fd, sent[i]) {
					t.Errorf("fd %d (%d) is not the file sent (%d)", i, fd, sent[i])
				}
				flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil || flags&unix.FD_CLOEXEC == 0 {
					t.Errorf("fd %d: flags %#x, %v: want close-on-exec", i, flags, err)
				}
			}
			// The pipe works through the received ends.
			if _, err := unix.Write(got.Fds[1], []byte("x")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if n, err := r.Read(b); n != 1 || err != nil {
				t.Fatalf("read through the pipe: %d, %v", n, err)
			}
			// The sender's descriptors are still open.
			if _, err := unix.FcntlInt(uintptr(sent[2]), unix.F_GETFD, 0); err != nil {
				t.Errorf("Send closed the sender's descriptor: %v", err)
			}
		})
	}
}

// A message without descriptors after one with: none is left over, and
// the JSON never carries the field.
func TestFdsOnlyWithTheirMessage(t *testing.T) {
	parent, child := pair(t)
	if err := Send(parent, Msg{Type: TypeExec, Fds: []int{0}}); err != nil {
		t.Fatal(err)
	}
	if err := Send(parent, Msg{Type: TypeSignal, Signal: 2}); err != nil {
		t.Fatal(err)
	}
	m, err := Recv(child)
	if err != nil || len(m.Fds) != 1 {
		t.Fatalf("first: %+v, %v", m, err)
	}
	unix.Close(m.Fds[0])
	m, err = Recv(child)
	if err != nil || m.Fds != nil || m.Signal != 2 {
		t.Fatalf("second: %+v, %v", m, err)
	}
	b, _ := json.Marshal(Msg{Type: TypeExec, Fds: []int{1, 2}})
	if strings.Contains(string(b), "ds") || strings.Contains(string(b), "[") {
		t.Errorf("Fds in the JSON: %s", b)
	}
}

// Too many descriptors: Send refuses; a peer that sends more anyway, or
// descriptors on a later packet, gets an error from Recv and none of them
// stays open.
func TestFdsRefused(t *testing.T) {
	parent, child := pair(t)
	many := make([]int, MaxFds+1)
	if err := Send(parent, Msg{Type: TypeExec, Fds: many}); err == nil {
		t.Fatalf("Send with %d fds succeeded", len(many))
	}

	before := openFds(t)
	raw := func(pkt string, fds int) {
		t.Helper()
		rights := make([]int, fds)
		if err := unix.Sendmsg(int(parent.Fd()), []byte(pkt), unix.UnixRights(rights...), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	raw("\x01{\"type\":\"exec\"}", MaxFds+1)
	if m, err := Recv(child); err == nil {
		t.Errorf("Recv of %d fds = %+v, want an error", MaxFds+1, m)
	}
	if n := openFds(t); n != before {
		t.Errorf("%d descriptors open after the refused message, %d before", n, before)
	}

	raw("\x00{\"type\":", 0)
	raw("\x01\"exec\"}", 1)
	if m, err := Recv(child); err == nil {
		t.Errorf("Recv of fds on a second packet = %+v, want an error", m)
	}
	if n := openFds(t); n != before {
		t.Errorf("%d descriptors open after the refused message, %d before", n, before)
	}

	raw("\x01{bad json", 2)
	if _, err := Recv(child); err == nil {
		t.Errorf("Recv of bad JSON with fds succeeded")
	}
	if n := openFds(t); n != before {
		t.Errorf("%d descriptors open after bad JSON with fds, %d before", n, before)
	}
}
