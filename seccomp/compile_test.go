//go:build cgo && linux && amd64

package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Return values of a seccomp filter (include/uapi/linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retAllow       = 0x7fff0000
	auditArchX8664 = 0xc000003e
	auditArchI386  = 0x40000003
	x32SyscallBit  = 0x40000000
)

// seccompData builds the input the kernel gives a seccomp filter, struct
// seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64
// args[6]; }, for x/net/bpf's VM. A seccomp filter only loads aligned
// 32-bit words (BPF_LD|BPF_W|BPF_ABS) and the kernel serves them in native
// (little-endian) order, but the VM reads words big-endian, as for network
// packets. So each 32-bit word is stored big-endian here, at the offset the
// little-endian layout gives it: a 64-bit argument's low half at +0 and its
// high half at +4.
func seccompData(nr int32, arch uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[16+8*i+4:], uint32(a>>32))
	}
	return b
}

// vm turns p's sock_filter array (native endianness) into x/net/bpf's VM.
func vm(t testing.TB, p *Program) *bpf.VM {
	t.Helper()
	if p == nil || len(p.BPF) == 0 || len(p.BPF)%8 != 0 {
		t.Fatalf("bad program %v", p)
	}
	raw := make([]bpf.Instruction, len(p.BPF)/8)
	for i := range raw {
		b := p.BPF[8*i:]
		raw[i] = bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(b[0:]), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:]),
		}.Disassemble()
	}
	v, err := bpf.NewVM(raw)
	if err != nil {
		t.Fatalf("bpf.NewVM: %v", err)
	}
	return v
}

type verdict uint32

func (v verdict) String() string {
	switch {
	case v == retAllow:
		return "ALLOW"
	case v == retKillProcess:
		return "KILL_PROCESS"
	case v&0xffff0000 == retErrno:
		return fmt.Sprintf("ERRNO(%s)", unix.ErrnoName(unix.Errno(v&0xffff)))
	}
	return fmt.Sprintf("%#x", uint32(v))
}

func run(t testing.TB, v *bpf.VM, name string, arch uint32, args ...uint64) verdict {
	t.Helper()
	nr, err := libseccomp.GetSyscallFromNameByArch(name, archFor(arch))
	if err != nil {
		t.Fatalf("syscall %s: %v", name, err)
	}
	return runNr(t, v, int32(nr), arch, args...)
}

func runNr(t testing.TB, v *bpf.VM, nr int32, arch uint32, args ...uint64) verdict {
	t.Helper()
	out, err := v.Run(seccompData(nr, arch, args...))
	if err != nil {
		t.Fatalf("bpf run: %v", err)
	}
	return verdict(uint32(out))
}

func archFor(a uint32) libseccomp.ScmpArch {
	if a == auditArchI386 {
		return libseccomp.ArchX86
	}
	return libseccomp.ArchAMD64
}

func mustCompile(t testing.TB, s Spec) *Program {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", s, err)
	}
	return p
}

func errno(e unix.Errno) verdict { return verdict(retErrno | uint32(e)) }

func TestCompileUnknownSyscall(t *testing.T) {
	s := Spec{Rules: []Rule{
		{Syscalls: []string{"read"}, Action: Log},
		{Syscalls: []string{"write", "foo"}, Action: Kill},
	}}
	_, err := Compile(s)
	var re *RuleError
	if !errors.As(err, &re) || re.Index != 1 || re.Field != "syscalls" || re.Msg != `unknown syscall "foo"` {
		t.Fatalf("Compile() = %v, want *RuleError{Index: 1, Field: syscalls, Msg: unknown syscall \"foo\"}", err)
	}
	// Validation errors come first, without libseccomp.
	if _, err := Compile(Spec{Base: "bogus"}); !errors.As(err, &re) || re.Field != "base" {
		t.Fatalf("Compile(bad base) = %v", err)
	}
}

func TestCompileGood(t *testing.T) {
	for _, s := range []Spec{
		{},
		{Base: "judge"},
		{Base: "none", Rules: []Rule{{Syscalls: []string{"ptrace"}, Action: Errno}}},
		{Base: "none", DefaultAction: Log},
		{Base: "default", AllowArch: []string{"x86", "x32", "amd64"}},
		{Base: "judge", DefaultAction: Kill, Rules: []Rule{
			{Syscalls: []string{"socket"}, Action: Allow, Args: []Arg{{Index: 0, Op: "eq", Value: unix.AF_UNIX}}},
			{Syscalls: []string{"getpid"}, Action: Trap},
			{Syscalls: []string{"getppid"}, Action: KillThread},
		}},
		// A rule with the default's action is a no-op, not an error.
		{Base: "judge", Rules: []Rule{{Syscalls: []string{"read"}, Action: Errno, Errno: "ENOSYS"}}},
		// umount exists on i386 but not on x86_64: still a known name.
		{Base: "none", Rules: []Rule{{Syscalls: []string{"umount"}, Action: Errno}}},
	} {
		p := mustCompile(t, s)
		if p == nil || len(p.BPF) == 0 || len(p.BPF)%8 != 0 {
			t.Errorf("Compile(%+v) = %v, want a program", s, p)
			continue
		}
		t.Logf("%+v: %d instructions", s, len(p.BPF)/8)
	}
}

func TestDefaultBaseBPF(t *testing.T) {
	v := vm(t, mustCompile(t, Spec{Base: "default"}))
	const x = auditArchX8664
	eperm, enosys := errno(unix.EPERM), errno(unix.ENOSYS)
	for _, tc := range []struct {
		name string
		args []uint64
		want verdict
	}{
		{"keyctl", nil, eperm},
		{"mount", nil, eperm},
		{"unshare", []uint64{unix.CLONE_NEWUSER}, eperm},
		{"unshare", []uint64{0}, eperm},
		{"bpf", nil, eperm},
		{"io_uring_setup", nil, eperm},
		{"open_by_handle_at", nil, eperm},
		{"ptrace", nil, eperm},
		{"read", nil, retAllow},
		{"write", nil, retAllow},
		{"execve", nil, retAllow},
		{"clone", []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD}, retAllow},
		{"clone", []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{"clone", []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone", []uint64{unix.CLONE_NEWNET}, eperm},
		{"clone", []uint64{unix.CLONE_NEWNS | unix.CLONE_NEWPID}, eperm},
		{"clone3", nil, enosys},
		{"io_setup", []uint64{65536}, enosys},
		{"io_submit", nil, enosys},
		{"io_getevents", nil, enosys},
		{"io_pgetevents", nil, enosys},
		{"ioctl", []uint64{0, unix.TIOCSTI}, eperm},
		{"ioctl", []uint64{0, 0xdead_0000_0000 | unix.TIOCSTI}, eperm}, // upper half ignored by the kernel
		{"ioctl", []uint64{0, unix.TIOCLINUX}, eperm},
		{"ioctl", []uint64{0, unix.TCGETS}, retAllow},
		{"ioctl", []uint64{0, unix.TIOCGWINSZ}, retAllow},
		{"personality", []uint64{0}, retAllow},
		{"personality", []uint64{perLinux32}, retAllow},
		{"personality", []uint64{personalityGet}, retAllow},
		{"personality", []uint64{0x0040000}, eperm}, // ADDR_NO_RANDOMIZE
		{"personality", []uint64{0x0400000 | perLinux32}, eperm},
		{"personality", []uint64{0x80040000}, eperm},
		{"personality", []uint64{0xfffffffe}, eperm},
		{"socket", []uint64{unix.AF_NETLINK}, retAllow},
	} {
		if got := run(t, v, tc.name, x, tc.args...); got != tc.want {
			t.Errorf("%s(%#x) = %v, want %v", tc.name, tc.args, got, tc.want)
		}
	}
	// Another ABI is a kill, whatever the call: i386, and x32 on x86_64.
	if got := run(t, v, "getpid", auditArchI386); got != retKillProcess {
		t.Errorf("i386 getpid = %v, want KILL_PROCESS", got)
	}
	nr, _ := libseccomp.GetSyscallFromName("getpid")
	if got := runNr(t, v, int32(nr)|x32SyscallBit, x); got == retAllow {
		t.Errorf("x32 getpid = %v, want it denied", got)
	} else {
		t.Logf("x32 getpid = %v", got)
	}
}

func TestAllowArch(t *testing.T) {
	v := vm(t, mustCompile(t, Spec{Base: "default", AllowArch: []string{"x86"}}))
	if got := run(t, v, "getpid", auditArchI386); got != retAllow {
		t.Errorf("i386 getpid with allow_arch x86 = %v, want ALLOW", got)
	}
	if got := run(t, v, "keyctl", auditArchI386); got != errno(unix.EPERM) {
		t.Errorf("i386 keyctl with allow_arch x86 = %v, want ERRNO(EPERM)", got)
	}
}

func TestProfileOverridesBase(t *testing.T) {
	v := vm(t, mustCompile(t, Spec{Base: "default", Rules: []Rule{
		{Syscalls: []string{"ptrace"}, Action: Allow},
		{Syscalls: []string{"getpid"}, Action: Errno, Errno: "EACCES"},
		{Syscalls: []string{"ioctl"}, Action: Errno, Errno: "ENOTTY", Args: []Arg{{Index: 1, Op: "eq", Value: unix.TCGETS}}},
	}}))
	for _, tc := range []struct {
		name string
		args []uint64
		want verdict
	}{
		{"ptrace", nil, retAllow},
		{"getpid", nil, errno(unix.EACCES)},
		{"ioctl", []uint64{0, unix.TCGETS}, errno(unix.ENOTTY)},
		{"ioctl", []uint64{0, unix.TIOCSTI}, retAllow}, // the profile's ioctl rules replaced the base's
		{"keyctl", nil, errno(unix.EPERM)},
	} {
		if got := run(t, v, tc.name, auditArchX8664, tc.args...); got != tc.want {
			t.Errorf("%s(%#x) = %v, want %v", tc.name, tc.args, got, tc.want)
		}
	}
}

func TestJudgeBaseBPF(t *testing.T) {
	v := vm(t, mustCompile(t, Spec{Base: "judge"}))
	eperm, enosys := errno(unix.EPERM), errno(unix.ENOSYS)
	for _, tc := range []struct {
		name string
		args []uint64
		want verdict
	}{
		{"read", nil, retAllow},
		{"execve", nil, retAllow},
		{"futex", nil, retAllow},
		{"clone", []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, retAllow},
		{"clone", []uint64{unix.CLONE_NEWUSER}, eperm},
		{"clone3", nil, enosys},
		{"io_setup", []uint64{65536}, enosys},
		{"keyctl", nil, eperm},
		{"socket", []uint64{unix.AF_INET}, eperm},
		{"ioctl", []uint64{1, unix.TCGETS}, retAllow},
		{"ioctl", []uint64{1, unix.TIOCSTI}, eperm},
		{"ioctl", []uint64{1, unix.TIOCSWINSZ}, enosys},
		{"personality", []uint64{personalityGet}, retAllow},
		{"personality", []uint64{0x0040000}, eperm},
		{"personality", []uint64{6}, enosys},
		{"mknod", nil, enosys},
		{"chown", nil, enosys},
		{"seccomp", nil, enosys},
	} {
		if got := run(t, v, tc.name, auditArchX8664, tc.args...); got != tc.want {
			t.Errorf("%s(%#x) = %v, want %v", tc.name, tc.args, got, tc.want)
		}
	}
}

// TestBaseNamesKnown lists base-rule names the installed libseccomp does
// not know (Compile skips them); it fails only for names that look like
// typos, i.e. unknown on every architecture libseccomp has.
func TestBaseNamesKnown(t *testing.T) {
	for _, name := range Bases() {
		for _, r := range bases[name].rules() {
			for _, sc := range r.Syscalls {
				if _, err := libseccomp.GetSyscallFromName(sc); err != nil {
					maj, min, mic := libseccomp.GetLibraryVersion()
					t.Logf("base %s: libseccomp %d.%d.%d does not know %q; skipped", name, maj, min, mic, sc)
				}
			}
		}
	}
}

// FuzzCompile builds a Spec from fuzz bytes: Compile must never panic, and
// once Validate passes, it either succeeds or returns *RuleError values.
func FuzzCompile(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03"))
	f.Add([]byte("judge\x05\x01\x02\x00\x07\x00\xff\xff"))
	f.Add([]byte{1, 3, 0, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := specFromBytes(data)
		err := s.Validate()
		p, cerr := Compile(s)
		if err != nil {
			if cerr == nil {
				t.Fatalf("Validate failed (%v) but Compile succeeded", err)
			}
			return
		}
		if cerr != nil {
			for _, e := range unjoin(cerr) {
				var re *RuleError
				if !errors.As(e, &re) {
					t.Fatalf("Compile(%+v) = %v (%T), want *RuleError", s, e, e)
				}
			}
			return
		}
		if p != nil {
			vm(t, p) // must be a well-formed BPF program
		}
	})
}

type byteReader struct{ b []byte }

func (r *byteReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *byteReader) u64() uint64 {
	var v uint64
	for range r.next() % 9 {
		v = v<<8 | uint64(r.next())
	}
	return v
}

func (r *byteReader) str() string {
	n := int(r.next() % 12)
	if n > len(r.b) {
		n = len(r.b)
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func specFromBytes(data []byte) Spec {
	names := []string{"read", "write", "ioctl", "clone", "ptrace", "keyctl", "personality", "umount", "socket", "execve", "futex", "mmap"}
	acts := append([]Action{""}, actions...)
	errnos := []string{"", "EPERM", "ENOSYS", "EBADERR", "EACCES"}
	opsx := append([]string{"bogus"}, ops...)
	r := &byteReader{data}
	pick := func(n int) int { return int(r.next()) % n }
	baseNames := append(Bases(), "", "x")
	s := Spec{Base: baseNames[pick(len(baseNames))], DefaultAction: acts[pick(len(acts))], DefaultErrno: errnos[pick(len(errnos))]}
	if r.next()%4 == 0 {
		s.AllowArch = []string{[]string{"x86", "x32", "vax", "arm64"}[pick(4)]}
	}
	for range r.next() % 5 {
		rule := Rule{Action: acts[pick(len(acts))], Errno: errnos[pick(len(errnos))]}
		for range r.next()%3 + 1 {
			if r.next()%5 == 0 {
				rule.Syscalls = append(rule.Syscalls, r.str())
			} else {
				rule.Syscalls = append(rule.Syscalls, names[pick(len(names))])
			}
		}
		for range r.next() % 3 {
			rule.Args = append(rule.Args, Arg{Index: uint(r.next() % 7), Op: opsx[pick(len(opsx))], Value: r.u64(), Mask: r.u64()})
		}
		s.Rules = append(s.Rules, rule)
	}
	return s
}

// TestUnconditionalWins pins the libseccomp behaviour Rule documents: an
// unconditional rule for a system call overrides conditional ones, in
// either order.
func TestUnconditionalWins(t *testing.T) {
	cond := Rule{Syscalls: []string{"ioctl"}, Action: Errno, Errno: "ENOTTY", Args: []Arg{{Index: 1, Op: "eq", Value: unix.TCGETS}}}
	uncond := Rule{Syscalls: []string{"ioctl"}, Action: Errno, Errno: "EACCES"}
	for _, rules := range [][]Rule{{cond, uncond}, {uncond, cond}} {
		v := vm(t, mustCompile(t, Spec{Base: "none", Rules: rules}))
		if got := run(t, v, "ioctl", auditArchX8664, 0, unix.TCGETS); got != errno(unix.EACCES) {
			t.Errorf("rules %v: ioctl(TCGETS) = %v, want ERRNO(EACCES)", rules, got)
		}
	}
}
