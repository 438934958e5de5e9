package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Network mode "user": the sandbox's network namespace gets a tap device
// whose traffic pasta (package passt) or slirp4netns turns into ordinary
// sockets of the caller's on the host, so the command reaches what the
// caller reaches, but never the host's loopback: connections to the
// gateway address do not lead to 127.0.0.1 on the host, and no port of the
// host is forwarded in either direction. Both tools get the same layout:
//
//	sandbox tap0 10.0.2.100/24, gateway 10.0.2.2, DNS forwarder 10.0.2.3
//
// (slirp4netns's defaults), IPv4 only. The sandbox's /etc/resolv.conf names
// the forwarder, unless the profile has its own (withResolver, plan.go).
const (
	netTap     = "tap0"
	netAddr    = "10.0.2.100"
	netPrefix  = "24"
	netGateway = "10.0.2.2"
	netDNS     = "10.0.2.3"
	netMTU     = "65520"
	// netTimeout bounds the helper's set-up.
	netTimeout = 10 * time.Second
)

// netTools are the helpers jail can use, the preferred first.
var netTools = []string{"pasta", "slirp4netns"}

// findNetTool looks for pasta, then slirp4netns, in the caller's PATH. It
// also checks /dev/net/tun, which both open with the caller's rights.
func findNetTool() (name, path string, err error) {
	for _, n := range netTools {
		if p, err := exec.LookPath(n); err == nil {
			name, path = n, p
			break
		}
	}
	if name == "" {
		return "", "", errors.New(`network mode "user" needs pasta or slirp4netns, and neither is in PATH: ` +
			`apt-get install passt (or: apt-get install slirp4netns)`)
	}
	if err := unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK); err != nil {
		hint := "udev normally makes it mode 0666: chmod 0666 /dev/net/tun as root"
		if errors.Is(err, unix.ENOENT) {
			hint = "the kernel needs CONFIG_TUN (modprobe tun)"
		}
		return "", "", fmt.Errorf(`network mode "user": %s needs /dev/net/tun: %w (%s)`, name, err, hint)
	}
	return name, path, nil
}

// netHelper is the running pasta or slirp4netns of one sandbox.
type netHelper struct {
	name  string
	cmd   *exec.Cmd
	out   *tailBuffer
	ready chan error // one value: nil once the tap device is configured
	once  sync.Once
	timer *time.Timer
	done  chan struct{}
	exitW *os.File // slirp4netns ends when this closes
}

// startNetHelper starts the helper against the network namespace of pid
// (and its user namespace, which both tools join) and returns at once:
// ready says when the tap device is up and configured. The helper dies
// with jail (parent-death signal) and is ended by stop.
func startNetHelper(name, path string, pid int) (*netHelper, error) {
	h := &netHelper{name: name, out: &tailBuffer{max: 4096}, ready: make(chan error, 1), done: make(chan struct{})}
	var readyR *os.File
	var args []string
	var extra []*os.File
	switch name {
	case "pasta":
		// pasta writes its PID file once the tap device is configured.
		// The file is the write end of a pipe of jail's, named through
		// pasta's own /proc/self/fd/3: a read of the other end returns
		// exactly then. No file in a shared directory such as $TMPDIR,
		// where another sandbox of the same caller could put a link for
		// pasta to follow.
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		readyR = r
		extra = []*os.File{w} // fd 3
		args = []string{
			"--foreground", "--quiet", "--ipv4-only", "--config-net",
			"--ns-ifname", netTap, "--address", netAddr, "--netmask", netPrefix,
			"--gateway", netGateway, "--dns-forward", netDNS, "--mtu", netMTU,
			// The gateway is not the host's loopback, and no port is
			// forwarded from the host or to it (the default, "auto",
			// forwards every port bound on either side).
			"--no-map-gw",
			"--tcp-ports", "none", "--udp-ports", "none",
			"--tcp-ns", "none", "--udp-ns", "none",
			"--pid", "/proc/self/fd/3",
		}
		if os.Geteuid() == 0 {
			// pasta run by root switches to nobody, who may not
			// enter the namespaces root owns.
			args = append(args, "--runas", "0:0")
		}
		args = append(args, strconv.Itoa(pid))
	case "slirp4netns":
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		exitR, exitW, err := os.Pipe()
		if err != nil {
			r.Close()
			w.Close()
			return nil, err
		}
		readyR, h.exitW = r, exitW
		extra = []*os.File{w, exitR} // fds 3 and 4
		args = []string{
			"--configure", "--mtu=" + netMTU, "--disable-host-loopback",
			"--ready-fd=3", "--exit-fd=4",
			"--enable-sandbox", "--enable-seccomp",
			strconv.Itoa(pid), netTap,
		}
	default:
		return nil, fmt.Errorf("unknown network helper %q", name)
	}
	h.cmd = &exec.Cmd{
		Path:       path,
		Args:       append([]string{name}, args...),
		Stdout:     h.out,
		Stderr:     h.out,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			// It dies with jail, whichever way jail ends.
			Pdeathsig: unix.SIGKILL,
			Setpgid:   true, // a Ctrl-C on the terminal reaches jail alone
		},
	}
	err := h.cmd.Start()
	for _, f := range extra {
		f.Close()
	}
	if err != nil {
		readyR.Close()
		h.stop()
		return nil, fmt.Errorf("network: start %s: %w", name, err)
	}
	// Exactly one of the read and the exit decides; both end the other's
	// wait (stop closes readyR; the exit closes the process's ends).
	go func() {
		defer close(h.done)
		err := h.cmd.Wait()
		h.report(fmt.Errorf("%s ended before the network was configured: %v%s", name, err, h.out.detail()))
		readyR.Close()
	}()
	go func() {
		buf := make([]byte, 64)
		n, err := readyR.Read(buf)
		switch {
		case err != nil || n == 0:
			// The helper ended (or stop closed the FIFO): the wait says why.
		case name == "slirp4netns" && buf[0] != '1':
			h.report(fmt.Errorf("slirp4netns: unexpected ready message %q%s", buf[:n], h.out.detail()))
		default:
			h.report(nil)
		}
		readyR.Close()
	}()
	h.timer = time.AfterFunc(netTimeout, func() {
		h.report(fmt.Errorf("%s did not configure the network within %s%s", name, netTimeout, h.out.detail()))
	})
	return h, nil
}

// report delivers the first verdict on the set-up; later ones are dropped.
func (h *netHelper) report(err error) {
	h.once.Do(func() { h.ready <- err })
}

// stop ends the helper (by its process handle: only the process jail
// started) and removes what it left.
func (h *netHelper) stop() {
	if h.timer != nil {
		h.timer.Stop()
	}
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	if h.exitW != nil {
		h.exitW.Close()
	}
}

// tailBuffer keeps the last max bytes a helper printed, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// detail is what the helper printed, minus syslog noise, as ": ..." or "".
func (t *tailBuffer) detail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(bytes.TrimSpace(t.b)), "\n") {
		l = strings.TrimSpace(l)
		// pasta logs to syslog too, and says so when there is none.
		if l == "" || strings.HasPrefix(l, "Failed to send") && strings.HasSuffix(l, "to syslog") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, "; ")
}
