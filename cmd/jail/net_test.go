package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// dial: one TCP connection attempt per address (2 s each), printed
	// as "ADDR OK" or "ADDR FAIL reason".
	roles["dial"] = func(args []string) int {
		for _, a := range args {
			c, err := net.DialTimeout("tcp", a, 2*time.Second)
			if err != nil {
				fmt.Println(a, "FAIL", err)
				continue
			}
			c.Close()
			fmt.Println(a, "OK")
		}
		return 0
	}
	// ifaces: "NAME up|down ADDR..." per interface, at the command's start.
	roles["ifaces"] = func(args []string) int {
		ifs, err := net.Interfaces()
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		for _, i := range ifs {
			state := "down"
			if i.Flags&net.FlagUp != 0 {
				state = "up"
			}
			var addrs []string
			as, _ := i.Addrs()
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
			fmt.Println(i.Name, state, strings.Join(addrs, " "))
		}
		return 0
	}
}

// listener is a TCP listener of the test's that counts the connections it
// accepted: the proof that one arrived there, whatever the dialling side
// saw (a proxy on the way may answer connections too).
type listener struct {
	addr     string
	accepted atomic.Int64
}

// tcpListener accepts (and closes) connections on addr until the test ends.
func tcpListener(t *testing.T, addr string) *listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tl := &listener{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tl.accepted.Add(1)
			c.Close()
		}
	}()
	return tl
}

// hostAddr is an IPv4 address of the host that is not a loopback one, or "".
func hostAddr() string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		as, _ := i.Addrs()
		for _, a := range as {
			if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() && !ip.IP.IsLinkLocalUnicast() {
				return ip.IP.String()
			}
		}
	}
	return ""
}

// dialResults maps each address to "OK" or "FAIL ...".
func dialResults(out string) map[string]string {
	res := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		a, v, _ := strings.Cut(l, " ")
		res[a] = v
	}
	return res
}

// interfaces maps each interface name to "up|down ADDR...".
func interfaces(out string) map[string]string {
	res := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		n, v, _ := strings.Cut(l, " ")
		res[n] = v
	}
	return res
}

// netProfile is the helper profile with a network mode.
func netProfile(t *testing.T, mode string) string {
	return helperProfile(t, fmt.Sprintf("[network]\nmode = %q\n", mode))
}

func TestNetNone(t *testing.T) {
	requireSandbox(t)
	lo := tcpListener(t, "127.0.0.1:0")
	p := netProfile(t, "none")
	got := dialResults(mustSucceed(t, "--profile", p, "--", "/jailtest", "__role", "dial", lo.addr))[lo.addr]
	if got == "OK" || lo.accepted.Load() != 0 {
		t.Errorf("network none reached the host's loopback %s: %q", lo.addr, got)
	}
	ifs := interfaces(mustSucceed(t, "--profile", p, "--", "/jailtest", "__role", "ifaces"))
	if len(ifs) != 1 || !strings.HasPrefix(ifs["lo"], "up ") {
		t.Errorf("interfaces inside: %v, want lo alone, up", ifs)
	}
}

func TestNetHost(t *testing.T) {
	requireSandbox(t)
	lo := tcpListener(t, "127.0.0.1:0")
	p := netProfile(t, "host")
	got := dialResults(mustSucceed(t, "--profile", p, "--", "/jailtest", "__role", "dial", lo.addr))[lo.addr]
	if got != "OK" || lo.accepted.Load() != 1 {
		t.Errorf("network host: connecting to the host's %s: %q, %d accepted", lo.addr, got, lo.accepted.Load())
	}
	// The host's network namespace; every other one is still new.
	names := []string{"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}
	out := mustSucceed(t, append([]string{"--profile", p, "--", "/jailtest", "__role", "ns"}, names...)...)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		ns, inside, _ := strings.Cut(line, " ")
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if (ns == "net") != (inside == host) {
			t.Errorf("%s namespace inside %s, host's %s", ns, inside, host)
		}
	}
}

// netTool finds pasta or slirp4netns for the user-mode tests: skipped
// when missing, unless JAIL_TEST_MUST_WORK=1.
func netTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		err = unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK)
		if err != nil {
			err = fmt.Errorf("/dev/net/tun: %w", err)
		}
	}
	if err != nil {
		msg := fmt.Sprintf("%s not usable: %v (apt-get install passt slirp4netns; /dev/net/tun mode 0666)", name, err)
		if os.Getenv("JAIL_TEST_MUST_WORK") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// onlyTool makes a PATH directory holding just tool (jail finds newuidmap
// in /usr/bin without PATH).
func onlyTool(t *testing.T, tool string) string {
	t.Helper()
	dir := t.TempDir()
	if tool != "" {
		if err := os.Symlink(tool, filepath.Join(dir, filepath.Base(tool))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// jailEnv runs jail as jail() does, with extra environment variables.
func jailEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return jailIn(t, "", env, args...)
}

// isTool says whether a process name (comm) is tool's: pasta re-executes
// itself as passt.avx2 or pasta.avx2 where the CPU has AVX2.
func isTool(comm, tool string) bool {
	if tool == "pasta" {
		return strings.HasPrefix(comm, "pasta") || strings.HasPrefix(comm, "passt")
	}
	return comm == tool
}

// helpersRunning lists the network helpers started by this test's own jail
// runs: those whose environment (jail's, which they inherit) has mark.
// Other tests' and other users' helpers on the machine are not ours.
func helpersRunning(mark string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name(), &st) != nil || int(st.Uid) != os.Getuid() {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if !bytes.Contains(env, []byte("\x00"+mark+"\x00")) && !bytes.HasPrefix(env, []byte(mark+"\x00")) {
			continue
		}
		if c := strings.TrimSpace(string(comm)); isTool(c, "pasta") || isTool(c, "slirp4netns") {
			out = append(out, e.Name()+"("+c+")")
		}
	}
	return out
}

func TestNetUser(t *testing.T) {
	requireSandbox(t)
	lo := tcpListener(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(lo.addr)
	// The gateway: slirp's classic way to the host's loopback.
	gw := net.JoinHostPort(netGateway, port)
	var out *listener
	if a := hostAddr(); a != "" {
		out = tcpListener(t, net.JoinHostPort(a, "0"))
	}
	p := netProfile(t, "user")
	for _, tool := range netTools {
		t.Run(tool, func(t *testing.T) {
			path := onlyTool(t, netTool(t, tool))
			mark := fmt.Sprintf("JAIL_NET_TEST=%d-%s", os.Getpid(), tool)
			before, tmpBefore := helpersRunning(mark), netTmpDirs()
			env := []string{"PATH=" + path, mark}
			r := jailEnv(t, env, "--profile", p, "--", "/jailtest", "__role", "ifaces")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			// Configured before the command started.
			ifs := interfaces(r.stdout)
			if !strings.HasPrefix(ifs["lo"], "up ") || !strings.HasPrefix(ifs[netTap], "up ") ||
				!strings.Contains(ifs[netTap], netAddr+"/"+netPrefix) || len(ifs) != 2 {
				t.Errorf("interfaces at the command's start: %q", r.stdout)
			}
			addrs := []string{lo.addr, gw}
			if out != nil {
				addrs = append(addrs, out.addr)
			}
			loBefore := lo.accepted.Load()
			r = jailEnv(t, env, append([]string{"--profile", p, "--", "/jailtest", "__role", "dial"}, addrs...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			res := dialResults(r.stdout)
			t.Logf("inside: %q", r.stdout)
			if n := lo.accepted.Load() - loBefore; n != 0 || res[lo.addr] == "OK" {
				t.Errorf("the host's loopback service %s was reached (%d connections; inside: %q)", lo.addr, n, r.stdout)
			}
			if out == nil {
				t.Log("no non-loopback IPv4 address on this host: outbound access not tested")
			} else if n := out.accepted.Swap(0); res[out.addr] != "OK" || n == 0 {
				t.Errorf("outbound connection to the host's %s: %q, %d accepted", out.addr, res[out.addr], n)
			}
			if after := helpersRunning(mark); len(after) != len(before) {
				t.Errorf("%s processes before the runs %v, after %v", tool, before, after)
			}
			if left := netTmpDirs(); len(left) != len(tmpBefore) {
				t.Errorf("left in %s: %v (before: %v)", os.TempDir(), left, tmpBefore)
			}
		})
	}
}

// netTmpDirs lists what pasta's runs may leave in the temporary directory.
func netTmpDirs() []string {
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "jail-net-*"))
	return m
}

// TestNetUserKilled: kill -9 of jail takes the helper down too.
func TestNetUserKilled(t *testing.T) {
	requireSandbox(t)
	for _, tool := range netTools {
		t.Run(tool, func(t *testing.T) {
			path := onlyTool(t, netTool(t, tool))
			tmpBefore := netTmpDirs()
			cmd := exec.Command(jailBin, "--profile", netProfile(t, "user"), "--", "sh", "-c", "echo ready; sleep 1000")
			cmd.Env = append(os.Environ(), "PATH="+path)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			buf := make([]byte, 6)
			if n, err := stdout.Read(buf); err != nil || string(buf[:n]) != "ready\n" {
				t.Fatalf("waiting for ready: %q %v", buf[:n], err)
			}
			pids := descendants(cmd.Process.Pid)
			found := false
			for _, pid := range pids {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				found = found || isTool(strings.TrimSpace(string(comm)), tool)
			}
			if !found {
				t.Fatalf("no %s below jail among %v", tool, pids)
			}
			_ = cmd.Process.Signal(unix.SIGKILL)
			_ = cmd.Wait()
			deadline := time.Now().Add(5 * time.Second)
			for _, pid := range pids {
				for alive(pid) {
					if time.Now().After(deadline) {
						t.Fatalf("pid %d survived kill -9 of jail", pid)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if left := netTmpDirs(); len(left) != len(tmpBefore) {
				t.Errorf("left in %s: %v (before: %v)", os.TempDir(), left, tmpBefore)
			}
		})
	}
}

// TestNetUserWithoutTool: neither tool in PATH is one clear error, before
// any namespace exists.
func TestNetUserWithoutTool(t *testing.T) {
	requireSandbox(t)
	r := jailEnv(t, []string{"PATH=" + onlyTool(t, "")}, "--profile", netProfile(t, "user"), "--", "true")
	if r.code != exitSetup {
		t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitSetup, r.stderr)
	}
	for _, want := range []string{"pasta", "slirp4netns", "apt-get install passt"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
}
