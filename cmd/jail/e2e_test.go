package main

// End-to-end tests: they build the real jail binary and run it as the
// current (unprivileged, in CI) user. They need user namespaces; they skip
// when the kernel refuses them, unless JAIL_TEST_MUST_WORK=1 (set by the
// test script) turns the skip into a failure.
//
// Checks that need more than a shell inside the sandbox use this test
// binary itself, bound read-only at /jailtest and started with "__role".

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	jailBin   string // built by TestMain
	helperBin string // a copy of this test binary, run inside as /jailtest
)

func copyFile(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "__role" {
		os.Exit(runRole(os.Args[2], os.Args[3:]))
	}
	dir, err := os.MkdirTemp("", "jail-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// World-readable, so that a root caller's sandbox (mapped to
	// unprivileged ids) can run the binaries too.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	jailBin = filepath.Join(dir, "jail")
	helperBin = filepath.Join(dir, "jailtest")
	if err := copyFile(helperBin); err != nil {
		fmt.Fprintln(os.Stderr, "copy test binary:", err)
		os.Exit(2)
	}
	build := exec.Command("go", "build", "-o", jailBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build jail:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// roles holds more in-sandbox code, registered by other test files
// (adversarial_test.go's attacks).
var roles = map[string]func(args []string) int{}

// runRole is the code that runs inside the sandbox as /jailtest.
func runRole(role string, args []string) int {
	if f, ok := roles[role]; ok {
		return f(args)
	}
	switch role {
	case "ns": // print every namespace link
		for _, ns := range args {
			l, err := os.Readlink("/proc/self/ns/" + ns)
			if err != nil {
				fmt.Println(ns, "error", err)
				continue
			}
			fmt.Println(ns, l)
		}
		return 0
	case "write": // try to create each path, print its errno name
		for _, p := range args {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err == nil {
				f.Close()
				fmt.Println(p, "OK")
				continue
			}
			var errno syscall.Errno
			errors.As(err, &errno)
			fmt.Println(p, unix.ErrnoName(errno))
		}
		return 0
	case "sigchild": // catch SIGINT, run a child, report how the child ended
		signal.Notify(make(chan os.Signal, 1), unix.SIGINT)
		child := exec.Command("sleep", "100")
		if err := child.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("ready")
		fmt.Println("child:", child.Wait())
		return 0
	case "lo": // is lo up, and is it the only interface?
		ifs, _ := os.ReadFile("/proc/net/dev")
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		ifr, _ := unix.NewIfreq("lo")
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			fmt.Println("ioctl", err)
			return 1
		}
		fmt.Printf("up=%v\n%s", ifr.Uint16()&unix.IFF_UP != 0, ifs)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	return 2
}

type result struct {
	code           int
	stdout, stderr string
}

// jail runs the jail binary with args and returns its exit code and output.
func jail(t *testing.T, args ...string) result {
	t.Helper()
	return jailIn(t, "", nil, args...)
}

// jailIn runs jail in dir (the test's own when "") with extra environment
// variables.
func jailIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(jailBin, args...)
	if dir != "" {
		cmd.Dir = dir
		env = append([]string{"PWD=" + dir}, env...)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	return runResult(t, cmd, nil)
}

// runResult runs cmd and returns its output and exit code; hung, when
// set, says whether cmd was killed for its deadline (then the test fails
// with its stderr).
func runResult(t *testing.T, cmd *exec.Cmd, hung func() bool) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if hung != nil && hung() {
		t.Fatalf("jail %q did not end in time (killed): stderr %s", cmd.Args[1:], errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run jail: %v", err)
	}
	return r
}

// requireSandbox skips when this kernel or user cannot create the sandbox.
func requireSandbox(t *testing.T) {
	t.Helper()
	r := jail(t, "--", "true")
	if r.code == 0 {
		return
	}
	msg := fmt.Sprintf("jail -- true failed (%d): %s", r.code, r.stderr)
	if os.Getenv("JAIL_TEST_MUST_WORK") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// skipRoot skips tests of the caller's own mapping: a root caller is mapped
// away from root instead, which TestRootCaller checks.
func skipRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		t.Skip("the caller is root: its sandbox is mapped to unprivileged ids (see TestRootCaller)")
	}
}

// mustSucceed runs jail and fails the test unless it exits 0.
func mustSucceed(t *testing.T, args ...string) string {
	t.Helper()
	r := jail(t, args...)
	if r.code != 0 {
		t.Fatalf("jail %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// writeProfile writes a profile that extends nothing: the default profile's
// text followed by extra TOML, so tests change only what they test.
func writeProfile(t *testing.T, extra string) string {
	t.Helper()
	def, err := os.ReadFile("../../profiles/default.toml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "test.toml")
	if err := os.WriteFile(p, append(def, []byte("\n"+extra)...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// userProfile is the default profile with its [user] table's body
// replaced by user.
func userProfile(t *testing.T, user string) string {
	t.Helper()
	p := writeProfile(t, "")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "[user]\nuid = 0\ngid = 0", "[user]\n"+user, 1)
	if s == string(b) {
		t.Fatal("the default profile's [user] table is not as this test expects")
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// helperProfile binds this test binary at /jailtest.
func helperProfile(t *testing.T, extra string) string {
	t.Helper()
	return writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/jailtest\"\n%s", helperBin, extra))
}

func TestRunsWithDefaultProfile(t *testing.T) {
	requireSandbox(t)
	out := mustSucceed(t, "--", "id")
	if !strings.HasPrefix(out, "uid=0(root) gid=0(root)") {
		t.Errorf("id inside: %q", out)
	}
	if got := mustSucceed(t, "hostname"); got != "jail\n" {
		t.Errorf("hostname: %q", got)
	}
}

func TestAllNamespacesDiffer(t *testing.T) {
	requireSandbox(t)
	names := []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}
	out := mustSucceed(t, append([]string{"--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "ns"}, names...)...)
	inside := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		inside[k] = v
	}
	for _, ns := range names {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if inside[ns] == "" || strings.Contains(inside[ns], "error") {
			t.Errorf("%s: no namespace link inside: %q", ns, inside[ns])
		} else if inside[ns] == host {
			t.Errorf("%s namespace is the host's: %s", ns, host)
		}
	}
}

func TestUIDMap(t *testing.T) {
	requireSandbox(t)
	skipRoot(t)
	out := mustSucceed(t, "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
	fields := strings.Fields(out)
	want := []string{"0", strconv.Itoa(os.Getuid()), "1"}
	if len(fields) < 3 || strings.Join(fields[:3], " ") != strings.Join(want, " ") {
		t.Errorf("uid_map first line = %q, want %q", out, want)
	}
	if os.Getenv("JAIL_TEST_SUBID") == "1" && len(fields) < 12 {
		// The test script gives the test user a range: 2 lines per map.
		t.Errorf("expected the sub-uid range mapped too, got:\n%s", out)
	}
}

func TestRootIsReadOnly(t *testing.T) {
	requireSandbox(t)
	out := mustSucceed(t, "--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "write",
		"/x", "/usr/x", "/etc/x", "/dev/x", "/tmp/x")
	want := "/x EROFS\n/usr/x EROFS\n/etc/x EROFS\n/dev/x EROFS\n/tmp/x OK\n"
	if out != want {
		t.Errorf("writes inside:\n%s\nwant:\n%s", out, want)
	}
}

func TestHostProcessesInvisible(t *testing.T) {
	requireSandbox(t)
	me := strconv.Itoa(os.Getpid())
	out := mustSucceed(t, "--", "sh", "-c", `echo ppid=$PPID; tr '\0' ' ' </proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'; test -e /proc/`+me+` && echo visible; true`)
	lines := strings.Split(out, "\n")
	if lines[0] != "ppid=1" {
		t.Errorf("parent of the command: %q, want 1 (jail's init)", lines[0])
	}
	if lines[1] != "jail __init2 " {
		t.Errorf("PID 1 is %q, want jail's init", lines[1])
	}
	if n, _ := strconv.Atoi(lines[2]); n > 4 {
		t.Errorf("%d processes visible inside, want at most 4:\n%s", n, out)
	}
	if strings.Contains(out, "visible") {
		t.Errorf("host pid %s visible inside", me)
	}
}

func TestLoopbackOnly(t *testing.T) {
	requireSandbox(t)
	out := mustSucceed(t, "--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "lo")
	if !strings.HasPrefix(out, "up=true\n") {
		t.Errorf("lo not up:\n%s", out)
	}
	var ifaces []string
	for _, line := range strings.Split(out, "\n")[3:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			ifaces = append(ifaces, name)
		}
	}
	if strings.Join(ifaces, ",") != "lo" {
		t.Errorf("interfaces inside: %v, want only lo", ifaces)
	}
}

func TestExitStatus(t *testing.T) {
	requireSandbox(t)
	cases := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"zero", []string{"true"}, 0, ""},
		{"seven", []string{"sh", "-c", "exit 7"}, 7, ""},
		{"signal", []string{"sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
		{"not found", []string{"no-such-command"}, 127, "no-such-command: command not found"},
		{"not found path", []string{"/usr/bin/no-such"}, 127, "no such file or directory"},
		{"not executable", []string{"/etc/passwd"}, 126, "permission denied"},
		{"no command", []string{}, 125, "no command given"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := jail(t, append([]string{"--"}, tc.args...)...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.err) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tc.err)
			}
		})
	}
}

// startJail starts jail with a command that prints "ready" when its set-up
// is done, and returns once that line has been read.
func startJail(t *testing.T, extra []*os.File, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(jailBin, args...)
	cmd.ExtraFiles = extra
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by pid: only what this test started
		_ = cmd.Wait()
	})
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("waiting for ready: %q %v", line, err)
	}
	return cmd, r
}

func TestSignalsForwarded(t *testing.T) {
	requireSandbox(t)
	for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2, unix.SIGQUIT, unix.SIGWINCH} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
			cmd, _ := startJail(t, nil, "--", "sh", "-c",
				fmt.Sprintf(`trap 'exit 42' %s; echo ready; while :; do sleep 0.05; done`, name))
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 42 {
				t.Errorf("after %v: %v, want exit 42 from the trap", sig, err)
			}
		})
	}
}

// TestInterruptReachesForegroundChild: Ctrl-C on jail reaches the command's
// whole process group, as a terminal's would, not just the command.
func TestInterruptReachesForegroundChild(t *testing.T) {
	requireSandbox(t)
	cmd, out := startJail(t, nil, "--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "sigchild")
	if err := cmd.Process.Signal(unix.SIGINT); err != nil {
		t.Fatal(err)
	}
	line, _ := out.ReadString('\n')
	if line != "child: signal: interrupt\n" {
		t.Errorf("after SIGINT to jail: %q, want the command's child interrupted", line)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("jail: %v, want exit 0 (the command caught SIGINT)", err)
	}
}

func TestWritableBindOwnedByCaller(t *testing.T) {
	requireSandbox(t)
	skipRoot(t)
	dir := t.TempDir()
	p := writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/out\"\nrw = true\n", dir))
	mustSucceed(t, "--profile", p, "--", "sh", "-c", "echo hi > /out/f && mkdir /out/d")
	for _, name := range []string{"f", "d"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, name), &st); err != nil {
			t.Fatal(err)
		}
		if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
			t.Errorf("%s owned by %d:%d, want the caller %d:%d", name, st.Uid, st.Gid, os.Getuid(), os.Getgid())
		}
	}
}

func TestProfileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, toml, want string
	}{
		{"unknown key", "hostname = \"x\"\n\ncolour = \"red\"\n", `profile "` + dir + `/unknown key.toml": line 3: colour: unknown key`},
		{"missing source", "[[mount]]\ntype = \"bind\"\nsource = \"/no/such/dir\"\ntarget = \"/x\"\n",
			`line 1: mount[0].source: /no/such/dir: no such file or directory`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".toml")
			if err := os.WriteFile(p, []byte(tc.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := jail(t, "--profile", p, "--", "true")
			if r.code != 125 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 125 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestInheritedFDsClosed(t *testing.T) {
	requireSandbox(t)
	f, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(jailBin, "--", "sh", "-c", "ls /proc/self/fd")
	cmd.ExtraFiles = []*os.File{f, f}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	// ls itself holds one descriptor on the directory it lists.
	if fds := strings.Fields(string(out)); len(fds) > 4 {
		t.Errorf("open fds inside: %v, want only 0 1 2 and ls's own", fds)
	}
}

// descendants returns the pids below pid, from /proc/*/stat.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return s[strings.LastIndexByte(s, ')')+2] != 'Z'
}

func TestKillJailLeavesNothing(t *testing.T) {
	requireSandbox(t)
	cmd, _ := startJail(t, nil, "--", "sh", "-c", "sleep 1000 & (sleep 1000 &) ; echo ready; wait")
	pids := descendants(cmd.Process.Pid)
	if len(pids) < 4 { // init, sh, two sleeps
		t.Fatalf("found only %v below jail", pids)
	}
	if err := cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for alive(p) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d survived kill -9 of jail", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A jail killed with SIGKILL cannot remove its (now empty) cgroup;
	// the next run does.
	mustSucceed(t, "--", "true")
	checkNoLeftovers(t)
}

func TestCommandEndKillsTheRest(t *testing.T) {
	requireSandbox(t)
	cmd, _ := startJail(t, nil, "--", "sh", "-c", "(sleep 1000 &); echo ready; sleep 1")
	pids := descendants(cmd.Process.Pid)
	if len(pids) < 3 { // init, sh, the orphaned sleep
		t.Fatalf("found only %v below jail", pids)
	}
	// The command ends on its own; the orphaned sleep must go with it.
	if err := cmd.Wait(); err != nil {
		t.Fatalf("jail: %v", err)
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d outlived the command", p)
		}
	}
}

// TestRootCaller: run by root (a judge service often is), jail maps the
// sandbox into an unprivileged range, so nothing inside is host root, not
// even the owner of what it writes to a writable bind.
func TestRootCaller(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only meaningful when the caller is root")
	}
	out := mustSucceed(t, "--", "cat", "/proc/self/uid_map")
	fields := strings.Fields(out)
	if len(fields) < 3 || fields[0] != "0" || fields[1] == "0" {
		t.Fatalf("uid_map as root caller: %q: uid 0 inside must not be host root", out)
	}
	// Not t.TempDir: its parent is 0700 root, which the sandbox's
	// unprivileged ids cannot enter, and that is the point of this test.
	dir, err := os.MkdirTemp("", "jail-root-caller-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	p := writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/out\"\nrw = true\n", dir))
	mustSucceed(t, "--profile", p, "--", "sh", "-c", "echo hi > /out/f")
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid == 0 || strconv.Itoa(int(st.Uid)) != fields[1] {
		t.Errorf("file written as sandbox root is owned by host uid %d, want %s", st.Uid, fields[1])
	}
}

// TestFileEntryDoesNotFollowSymlinks: a symlink planted in a writable bind
// (an untrusted checkout, say) must not redirect a profile's file entry
// to a host file.
func TestFileEntryDoesNotFollowSymlinks(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "proj")
	if err := os.Mkdir(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	// During set-up the host root is at /oldroot; also try a plain path.
	for i, target := range []string{"/oldroot" + victim, victim} {
		if err := os.Symlink(target, filepath.Join(proj, fmt.Sprint("link", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		p := writeProfile(t, fmt.Sprintf(`[[mount]]
type = "bind"
source = %q
target = "/src"
rw = true

[[mount]]
type = "file"
target = "/src/link%d"
content = "PWNED\n"
`, proj, i))
		r := jail(t, "--profile", p, "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "/src/link") {
			t.Errorf("file entry over a symlink: exit %d, stderr %q; want 125 naming /src/link%d", r.code, r.stderr, i)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "original\n" {
		t.Fatalf("host file overwritten through a symlink: %q", b)
	}
}

// TestInitSurvivesSignalsFromInside: the command cannot crash PID 1.
func TestInitSurvivesSignalsFromInside(t *testing.T) {
	requireSandbox(t)
	out := mustSucceed(t, "--", "sh", "-c", "for s in ABRT SEGV BUS TRAP SYS TERM INT HUP USR1 ALRM; do kill -$s 1; done; sleep 0.2; echo alive")
	if out != "alive\n" {
		t.Errorf("got %q, want the command to outlive its signals to PID 1", out)
	}
}

// TestJailNeedsNothingFromTheProfile: jail's own stages do not load
// anything from the sandbox's tree, so a profile without a loader or libc
// fails only at the command's execve, with the command's name.
func TestJailNeedsNothingFromTheProfile(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "bare.toml")
	if err := os.WriteFile(p, []byte("[[mount]]\ntype = \"bind\"\nsource = \"/usr\"\ntarget = \"/usr\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := jail(t, "--profile", p, "--", "/usr/bin/true")
	if r.code != 127 || !strings.Contains(r.stderr, "/usr/bin/true") {
		t.Errorf("exit %d, stderr %q; want 127 from the command's own execve", r.code, r.stderr)
	}
}

// TestUnprivilegedUserInside: the profile can run the command as a
// non-root id of the mapped range; it lands in the sub-uid range outside.
func TestUnprivilegedUserInside(t *testing.T) {
	requireSandbox(t)
	skipRoot(t)
	if os.Getenv("JAIL_TEST_SUBID") != "1" {
		t.Skip("needs a /etc/subuid range (JAIL_TEST_SUBID=1)")
	}
	p := userProfile(t, "uid = 1000\ngid = 1000")
	cmd, out := startJail(t, nil, "--profile", p, "--", "sh", "-c", "echo ready; id -u; id -g; grep Cap /proc/self/status; sleep 10")
	var lines []string
	for range 7 {
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if lines[0] != "1000" || lines[1] != "1000" {
		t.Errorf("ids inside: %v, want 1000 1000", lines[:2])
	}
	for _, l := range lines[2:] {
		if k, v, _ := strings.Cut(l, ":"); strings.TrimSpace(v) != "0000000000000000" {
			t.Errorf("%s = %s, want no capabilities", k, strings.TrimSpace(v))
		}
	}
	// On the host the command's uid is in the caller's sub-uid range.
	for range 100 {
		if hostUIDOf(t, cmd.Process.Pid, "sleep") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("did not find the command's sleep on the host")
}

// hostUIDOf checks the host uid of the process called name below pid.
func hostUIDOf(t *testing.T, parent int, name string) bool {
	t.Helper()
	for _, pid := range descendants(parent) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil || !strings.Contains(string(b), "Name:\t"+name+"\n") {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
				if uid, _ := strconv.Atoi(f[1]); uid == os.Getuid() || uid < 65536 {
					t.Errorf("command's host uid %d, want one from the sub-uid range", uid)
				}
				return true
			}
		}
	}
	return false
}

// openPty returns a pseudo-terminal pair for a test.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		t.Fatal(errno)
	}
	master, slave = os.NewFile(uintptr(m), "ptmx"), os.NewFile(s, "pts")
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

// TestTerminalOfItsOwn: on a terminal, the command gets a pseudo-terminal
// of jail's as its controlling terminal, never the caller's.
func TestTerminalOfItsOwn(t *testing.T) {
	requireSandbox(t)
	master, slave := openPty(t)
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(jailBin, "--", "sh", "-c", `test -t 0 && echo istty; set -- $(cat /proc/self/stat); echo "ctty=$7"; stty size`)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 77}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out, _ := io.ReadAll(master) // ends with EIO once jail is gone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("jail: %v\n%s", err, out)
	}
	text := strings.ReplaceAll(string(out), "\r", "")
	if !strings.Contains(text, "istty\n") || !strings.Contains(text, "33 77\n") {
		t.Errorf("inside: %q, want a terminal of the caller's size", text)
	}
	var ctty uint64
	if _, err := fmt.Sscanf(text[strings.Index(text, "ctty="):], "ctty=%d", &ctty); err != nil || ctty == 0 {
		t.Fatalf("no controlling terminal inside: %q", text)
	}
	if ctty == st.Rdev {
		t.Errorf("the command's controlling terminal is the caller's (%d)", ctty)
	}
}

// TestKeepCaps: a profile can keep a capability; the command holds exactly
// that one (in its own namespaces), as root and as another uid.
func TestKeepCaps(t *testing.T) {
	requireSandbox(t)
	for _, uid := range []string{"0", "1000"} {
		t.Run("uid "+uid, func(t *testing.T) {
			if uid != "0" && os.Getenv("JAIL_TEST_SUBID") != "1" {
				t.Skip("needs a sub-uid range")
			}
			p := userProfile(t, "uid = "+uid+"\ngid = "+uid+"\nkeep_caps = [\"CAP_NET_BIND_SERVICE\"]")
			out := mustSucceed(t, "--profile", p, "--", "grep", "^Cap", "/proc/self/status")
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				k, v, _ := strings.Cut(l, ":")
				want := "0000000000000400" // bit 10: CAP_NET_BIND_SERVICE
				if strings.TrimSpace(v) != want {
					t.Errorf("%s = %s, want %s", k, strings.TrimSpace(v), want)
				}
			}
		})
	}
	bad := userProfile(t, "uid = 0\ngid = 0\nkeep_caps = [\"CAP_FLY\"]")
	if r := jail(t, "--profile", bad, "--", "true"); r.code != 125 || !strings.Contains(r.stderr, `user.keep_caps: unknown capability "CAP_FLY"`) {
		t.Errorf("bad capability: exit %d %q", r.code, r.stderr)
	}
}
