// Package ipc carries messages between jail's stages over a SOCK_SEQPACKET
// socket pair: one JSON document per message, in packets whose first byte
// says whether more follow (see Send), so messages keep their boundaries
// whatever their size, and EOF means the other side is gone. Records
// (SendRecord) are the same but for C code that reads or writes them before
// a Go runtime starts: a C structure's bytes instead of JSON, flagged so. A message may
// carry file descriptors (Msg.Fds, SCM_RIGHTS on its first packet).
//
// The handshake, stage by stage (stage 0 is `jail` on the host, stage 1/2 is
// the sandbox's PID 1 before and after its re-exec):
//
//	stage 0 (host)                        stage 1 → 2 (PID 1 in the sandbox)
//	  clone(NEWUSER|NEWNS|NEWPID|...) ──▶   blocks in Recv
//	  newgidmap / newuidmap PID,
//	  and (cgroup v1) the move into
//	  the sandbox's cgroup, concurrently
//	  Send {idmap-done, time offsets}  ──▶   execve(/proc/self/exe) → stage 2, full caps;
//	                                         before its Go runtime starts (C):
//	  SendRecord mount plan            ──▶   time ns, counts, mounts, pivot_root
//	                                         (a failure: Recv ◀── record, then exit 125)
//	  Send {plan}                      ──▶   mount-table check, hostname, lo
//	  Send {exec} (+ 0 or 3 fds)       ──▶   (any time after {plan}: held until the
//	                                         root is ready)
//	  (network "user": pasta or slirp4netns
//	   set up the tap device)
//	  Send {net-ready}                 ──▶   (network "user" only: waited for too)
//	                                         root ready + {exec} (+ {net-ready}):
//	                                         spawn the command (new cgroup ns and
//	                                         session, ids, caps, NNP, seccomp, execve)
//	  Send {signal}                    ──▶   a signal jail got: relayed to the
//	                                         command, or ends the set-up
//	  Send {kill}                      ──▶   kill all but the init, which then reports
//	                                         as usual (a limit, when no cgroup counts)
//	  Recv  ◀── {error} (set-up failed, then stage 2 exits 125)
//	  Recv  ◀── {exec-failed} (command not found / not executable)
//	  Recv  ◀── {started} (the command runs)
//	  Recv  ◀── {exited} (the command ended; stage 2 exits with its status)
//
// The order on the wire is fixed: {idmap-done}, then the mount plan (a
// record, cmd/jail/mounts.h; a batch's zygote gets it too), then {plan}, then
// exactly one {exec}; {net-ready}, {signal} and {kill} may come at any point after
// {plan}. Stage 2 reads {plan} first and builds the root from it without
// waiting for {exec}, so stage 0 may send {exec} right after {plan} (a
// single run does) or later (a sandbox built ahead of its command). The
// command starts only once the root is built, {exec} has arrived, and, in
// network mode "user", {net-ready} too. {exec} carries the ExecSpec (argv,
// env, cwd, ids, rlimits, seccomp filter, kept capabilities, tty) and either
// no fds, when the command gets stage 2's own 0-2 (those stage 0 gave
// stage 1), or exactly 3, which become the command's stdin, stdout and
// stderr. A signal relayed before the command starts ends the set-up.
package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Message types.
const (
	TypeIDMapDone  = "idmap-done"
	TypePlan       = "plan"
	TypeExec       = "exec"
	TypeError      = "error"
	TypeExecFailed = "exec-failed"
	TypeStarted    = "started"
	TypeSignal     = "signal"
	TypeKill       = "kill"
	TypeNetReady   = "net-ready"
	TypeExited     = "exited"
	// TypeReady: a batch's zygote has built the root and waits for runs
	// (cmd/jail/zygote.go).
	TypeReady = "ready"
	// TypeRecord: a record (SendRecord), in Msg.Record.
	TypeRecord = "record"
)

// Msg is one packet. Data holds the type-specific payload (a plan, an exec
// spec) so that this package does not depend on the packages that define them.
type Msg struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	Err  *StageError     `json:"err,omitempty"`
	// Exited: the command's exit code, or the signal that killed it.
	Code   int `json:"code,omitempty"`
	Signal int `json:"signal,omitempty"`
	// Exited: what the processes the init reaped used (getrusage
	// RUSAGE_CHILDREN), the accounting when there is no cgroup.
	Rusage *Rusage `json:"rusage,omitempty"`
	// Started and exited: the CPU jail's own process in the sandbox (the
	// init) has used, which the sandbox's cgroup also counts and the report
	// takes off the command's time.
	Overhead *Rusage `json:"overhead,omitempty"`
	// Fds travel beside the JSON, as SCM_RIGHTS on the message's first
	// packet (at most MaxFds). Send does not close them; the ones Recv
	// returns are new descriptors of the receiver's, close-on-exec, which
	// it must close.
	Fds []int `json:"-"`
	// Record is a record's bytes (TypeRecord), never JSON.
	Record []byte `json:"-"`
}

// MaxFds is the most descriptors one message carries.
const MaxFds = 8

// Rusage is the part of struct rusage a report needs.
type Rusage struct {
	UserUsec   int64 `json:"user_usec"`
	SystemUsec int64 `json:"system_usec"`
	MaxRSS     int64 `json:"max_rss_kib"` // of the largest process
}

// GetRusage reads getrusage(who): RUSAGE_SELF or RUSAGE_CHILDREN.
func GetRusage(who int) *Rusage {
	var ru unix.Rusage
	if unix.Getrusage(who, &ru) != nil {
		return nil
	}
	return &Rusage{UserUsec: ru.Utime.Sec*1e6 + ru.Utime.Usec, SystemUsec: ru.Stime.Sec*1e6 + ru.Stime.Usec, MaxRSS: ru.Maxrss}
}

// Sub returns r less o's CPU times (never below zero; nil counts as zero).
func (r *Rusage) Sub(o *Rusage) *Rusage {
	if r == nil {
		return nil
	}
	s := *r
	if o != nil {
		s.UserUsec = max(s.UserUsec-o.UserUsec, 0)
		s.SystemUsec = max(s.SystemUsec-o.SystemUsec, 0)
	}
	return &s
}

// Add returns the sum of two usages (nil counts as zero).
func (r *Rusage) Add(o *Rusage) *Rusage {
	var s Rusage
	for _, x := range []*Rusage{r, o} {
		if x != nil {
			s.UserUsec += x.UserUsec
			s.SystemUsec += x.SystemUsec
			s.MaxRSS = max(s.MaxRSS, x.MaxRSS)
		}
	}
	return &s
}

// StageError is a set-up failure inside the sandbox, carried to stage 0 as
// data: which step, which operation on which path, and the errno, so the
// parent can print one precise message and test it with errors.Is.
type StageError struct {
	Stage  string `json:"stage"`            // "fs", "net", "exec", ...
	Op     string `json:"op"`               // the syscall or action: "mount", "pivot_root", "execve"
	Path   string `json:"path,omitempty"`   // the path it acted on
	Errno  int    `json:"errno,omitempty"`  // 0 when the failure is not a syscall error
	Detail string `json:"detail,omitempty"` // flags, expected vs found, a hint
	// Msg, when set, is the whole message of the original error (which
	// already names the operation, path and errno); the fields above keep
	// its structure for errors.Is and for callers that reword it.
	Msg string `json:"msg,omitempty"`
}

func (e *StageError) Error() string {
	if e.Msg != "" {
		return e.Stage + ": " + e.Msg
	}
	var b strings.Builder
	b.WriteString(e.Stage)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if e.Errno != 0 {
		b.WriteString(": ")
		b.WriteString(syscall.Errno(e.Errno).Error())
	}
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap lets errors.Is(err, unix.EPERM) work on the parent's side.
func (e *StageError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return syscall.Errno(e.Errno)
}

// AsStageError turns any error into a StageError for the wire, keeping the
// errno and the path of a *StageError, *os.PathError or *os.SyscallError.
func AsStageError(stage string, err error) *StageError {
	var se *StageError
	if errors.As(err, &se) {
		return se
	}
	out := &StageError{Stage: stage, Op: err.Error(), Msg: err.Error()}
	var pe *os.PathError
	var sce *os.SyscallError
	switch {
	case errors.As(err, &pe):
		out.Op, out.Path = pe.Op, pe.Path
		var errno syscall.Errno
		if !errors.As(pe.Err, &errno) {
			out.Detail = pe.Err.Error()
		}
	case errors.As(err, &sce):
		out.Op = sce.Syscall
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		out.Errno = int(errno)
	}
	return out
}

// chunk bounds one packet: a unix datagram larger than the socket's send
// buffer (about 208 KiB by default) fails with EMSGSIZE, and a plan that
// carries files can be larger than that, so a message spans packets.
const chunk = 32 << 10

// Packet flags, the first byte of every packet.
const (
	flagMore  byte = 0
	flagFinal byte = 1
	// flagRecord marks the packets of a record (SendRecord).
	flagRecord byte = 2
)

// Send writes m as one or more packets, the last one flagged final; m.Fds
// go with the first.
func Send(f *os.File, m Msg) error {
	if len(m.Fds) > MaxFds {
		return fmt.Errorf("ipc: %d descriptors in one message, at most %d", len(m.Fds), MaxFds)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(m.Fds) > 0 {
		oob = unix.UnixRights(m.Fds...)
	}
	return sendPackets(f, b, oob, 0)
}

// SendRecord writes a record: b, a C structure's bytes, in packets flagged
// flagRecord, which Recv returns as a message of type TypeRecord. Records
// carry what C code before any Go runtime reads or writes (the mount plan,
// a set-up failure: cmd/jail/mounts.h).
func SendRecord(f *os.File, b []byte) error {
	return sendPackets(f, b, nil, flagRecord)
}

// sendPackets writes b in packets, kind (0 or flagRecord) in every flag.
func sendPackets(f *os.File, b, oob []byte, kind byte) (err error) {
	fd := int(f.Fd())
	pkt := make([]byte, 0, chunk+1)
	for {
		n := min(len(b), chunk)
		flag := flagMore
		if n == len(b) {
			flag = flagFinal
		}
		pkt = append(append(pkt[:0], flag|kind), b[:n]...)
		for {
			err = unix.Sendmsg(fd, pkt, oob, nil, 0)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return os.NewSyscallError("sendmsg", err)
		}
		oob = nil
		b = b[n:]
		if flag == flagFinal {
			return nil
		}
	}
}

// Recv reads one message. It returns io.EOF when the peer has closed its
// end before a message began. Descriptors that came with the message are
// in m.Fds; on an error, any that came are closed.
func Recv(f *os.File) (m Msg, err error) {
	fd := int(f.Fd())
	var data []byte
	var fds []int
	defer func() {
		if err != nil {
			for _, d := range fds {
				unix.Close(d)
			}
			m.Fds = nil
		}
	}()
	buf := make([]byte, chunk+1)
	oob := make([]byte, unix.CmsgSpace(MaxFds*4))
	var kind byte
	for first := true; ; first = false {
		n, oobn, err := recvRetry(fd, buf, oob)
		if oobn > 0 {
			got, perr := parseRights(oob[:oobn])
			fds = append(fds, got...)
			if perr == nil && !first {
				perr = errors.New("descriptors on a packet that does not begin a message")
			}
			if perr != nil {
				return m, perr
			}
		}
		if errors.Is(err, unix.ECONNRESET) {
			// The peer closed with data unread: as good as EOF.
			n, err = 0, nil
		}
		if err != nil {
			return m, err
		}
		if n == 0 {
			if data != nil {
				return m, io.ErrUnexpectedEOF
			}
			return m, io.EOF
		}
		if first {
			kind = buf[0] & flagRecord
		} else if buf[0]&flagRecord != kind {
			return m, errors.New("ipc: a message and a record mixed")
		}
		data = append(data, buf[1:n]...)
		if buf[0]&flagFinal != 0 {
			break
		}
	}
	if kind == flagRecord {
		return Msg{Type: TypeRecord, Record: data, Fds: fds}, nil
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("decode message: %w", err)
	}
	m.Fds = fds
	return m, nil
}

// parseRights returns the descriptors of the SCM_RIGHTS messages in oob.
func parseRights(oob []byte) ([]int, error) {
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("ipc: control message: %w", err)
	}
	var fds []int
	var bad error
	for _, c := range cmsgs {
		got, err := unix.ParseUnixRights(&c)
		if err != nil {
			bad = fmt.Errorf("ipc: control message: %w", err)
			continue
		}
		fds = append(fds, got...)
	}
	return fds, bad
}

func recvRetry(fd int, buf, oob []byte) (int, int, error) {
	for {
		// Descriptors arrive close-on-exec: none reaches a child by
		// accident.
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, oobn, os.NewSyscallError("recvmsg", err)
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return n, oobn, fmt.Errorf("ipc: more than %d descriptors in one message", MaxFds)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return n, oobn, errors.New("packet larger than a chunk")
		}
		return n, oobn, nil
	}
}

// Pair returns a connected SOCK_SEQPACKET pair, both ends close-on-exec.
func Pair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}
