package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/userns"
)

// The tests here drive the sandbox's init the way stage 0 does, message by
// message (ipc's protocol), to check what a single run does not show: the
// exec spec arriving late, or with descriptors for the command's stdio.

// sandboxInit is a running stage 1/2 and stage 0's end of its socket.
type sandboxInit struct {
	cmd  *exec.Cmd
	sock *os.File
	plan *Plan
	msgs chan ipc.Msg // what the init sends, closed at EOF
}

// startInit starts jail's init in new namespaces with the caller's own ids
// mapped (written by the Go runtime, as for the single-id fallback), sends
// idmap-done and the plan of the default profile for argv, and returns
// before the {exec} message.
func startInit(t *testing.T, argv ...string) *sandboxInit {
	t.Helper()
	requireSandbox(t)
	skipRoot(t)
	p, err := loadProfile("default")
	if err != nil {
		t.Fatal(err)
	}
	m := userns.Mapping{
		UIDs:          []userns.IDMap{{Inside: 0, Outside: uint32(os.Getuid()), Count: 1}},
		GIDs:          []userns.IDMap{{Inside: 0, Outside: uint32(os.Getgid()), Count: 1}},
		SetgroupsDeny: true,
	}
	plan, err := buildPlan(p, m, argv, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	parent, child, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{
		Path:       jailBin,
		Args:       []string{"jail", stage1Arg},
		Env:        []string{},
		ExtraFiles: []*os.File{child}, // fd 3; stdio: /dev/null
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 plan.CloneFlags,
			UidMappings:                sysMap(m.UIDs),
			GidMappings:                sysMap(m.GIDs),
			GidMappingsEnableSetgroups: false,
			Pdeathsig:                  unix.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the init: %v", err)
	}
	child.Close()
	s := &sandboxInit{cmd: cmd, sock: parent, plan: plan, msgs: make(chan ipc.Msg, 8)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by its handle: the process this test started
		_ = cmd.Wait()
		parent.Close()
	})
	offsets, _ := json.Marshal("")
	s.send(t, ipc.Msg{Type: ipc.TypeIDMapDone, Data: offsets})
	if err := sendPlan(parent, plan); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.msgs)
		for {
			m, err := ipc.Recv(parent)
			if err != nil {
				return
			}
			s.msgs <- m
		}
	}()
	return s
}

func (s *sandboxInit) send(t *testing.T, m ipc.Msg) {
	t.Helper()
	if err := ipc.Send(s.sock, m); err != nil {
		t.Fatalf("send %s: %v", m.Type, err)
	}
}

// sendExec sends the plan's exec spec with stdio (nil or 3 descriptors).
func (s *sandboxInit) sendExec(t *testing.T, stdio []*os.File) {
	t.Helper()
	var fds []int
	for _, f := range stdio {
		fds = append(fds, int(f.Fd()))
	}
	m, err := execMessage(&s.plan.Exec, fds)
	if err != nil {
		t.Fatal(err)
	}
	s.send(t, m)
}

// messages collects what the init sends until it ends, and its exit code.
func (s *sandboxInit) messages(t *testing.T) ([]ipc.Msg, int) {
	t.Helper()
	var got []ipc.Msg
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				err := s.cmd.Wait()
				var ee *exec.ExitError
				if err != nil && !errors.As(err, &ee) {
					t.Fatalf("wait for the init: %v", err)
				}
				return got, s.cmd.ProcessState.ExitCode()
			}
			got = append(got, m)
		case <-timeout:
			t.Fatalf("the init did not end; messages so far: %+v", got)
		}
	}
}

func msgTypes(ms []ipc.Msg) string {
	var ts []string
	for _, m := range ms {
		t := m.Type
		if m.Err != nil {
			t += "(" + m.Err.Error() + ")"
		}
		ts = append(ts, t)
	}
	return strings.Join(ts, " ")
}

// The {exec} message's three descriptors become the command's stdin,
// stdout and stderr, instead of the init's own (here /dev/null), and no
// other descriptor reaches the command.
func TestExecMessageStdio(t *testing.T) {
	s := startInit(t, "sh", "-c", `read x; echo "out:$x"; echo "err:$x" >&2; ls /proc/self/fd`)
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s.sendExec(t, []*os.File{inR, outW, errW})
	// Only the sandbox holds them now: EOF once the command is done.
	inR.Close()
	outW.Close()
	errW.Close()
	if _, err := io.WriteString(inW, "hello\n"); err != nil {
		t.Fatal(err)
	}
	inW.Close()
	outc, errc := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(outR); outc <- string(b) }()
	go func() { b, _ := io.ReadAll(errR); errc <- string(b) }()
	msgs, code := s.messages(t)
	stdout, stderr := <-outc, <-errc
	if code != 0 || len(msgs) != 2 || msgs[0].Type != ipc.TypeStarted || msgs[1].Type != ipc.TypeExited {
		t.Fatalf("init exit %d, messages %s; stdout %q, stderr %q", code, msgTypes(msgs), stdout, stderr)
	}
	// ls's own directory descriptor is the 3.
	if stdout != "out:hello\n0\n1\n2\n3\n" {
		t.Errorf("stdout = %q, want the line read from stdin and fds 0-3", stdout)
	}
	if stderr != "err:hello\n" {
		t.Errorf("stderr = %q", stderr)
	}
}

// The init builds the root from the plan and waits for {exec}: the command
// starts only then, however late it comes.
func TestExecMessageLate(t *testing.T) {
	s := startInit(t, "true")
	select {
	case m := <-s.msgs:
		t.Fatalf("before any {exec}, the init sent %s", msgTypes([]ipc.Msg{m}))
	case <-time.After(300 * time.Millisecond):
	}
	s.sendExec(t, nil)
	msgs, code := s.messages(t)
	if code != 0 || msgTypes(msgs) != "started exited" {
		t.Fatalf("init exit %d, messages %s", code, msgTypes(msgs))
	}
}

// A relayed signal while the init waits for {exec} ends the set-up as it
// always does: the init exits 128+N and never starts a command.
func TestSignalBeforeExecMessage(t *testing.T) {
	s := startInit(t, "true")
	time.Sleep(100 * time.Millisecond)
	s.send(t, ipc.Msg{Type: ipc.TypeSignal, Signal: int(unix.SIGTERM)})
	msgs, code := s.messages(t)
	if code != 128+int(unix.SIGTERM) || len(msgs) != 0 {
		t.Fatalf("init exit %d, messages %s; want exit %d and none", code, msgTypes(msgs), 128+int(unix.SIGTERM))
	}
}

// An {exec} with a descriptor count other than 0 or 3 is a set-up error.
func TestExecMessageBadFds(t *testing.T) {
	s := startInit(t, "true")
	m, err := execMessage(&s.plan.Exec, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Fds = []int{1, 2}
	s.send(t, m)
	msgs, code := s.messages(t)
	if code != exitSetup || len(msgs) != 1 || msgs[0].Type != ipc.TypeError ||
		!strings.Contains(msgs[0].Err.Error(), "2 descriptors") {
		t.Fatalf("init exit %d, messages %s; want a set-up error about 2 descriptors", code, msgTypes(msgs))
	}
	if _, err := execMessage(&s.plan.Exec, []int{1}); err == nil {
		t.Errorf("execMessage with 1 descriptor succeeded")
	}
}

// The {plan} message leaves the exec spec out; `jail --plan` shows it.
func TestPlanMessageWithoutExec(t *testing.T) {
	plan := &Plan{Version: planVersion, Exec: ExecSpec{Argv: []string{"true"}, Cwd: "/"}}
	m, err := planMessage(plan)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Data), `"exec"`) || strings.Contains(string(m.Data), `"argv"`) {
		t.Errorf("plan message carries the exec spec: %s", m.Data)
	}
	if plan.Exec.Argv == nil {
		t.Errorf("planMessage changed the plan")
	}
	whole, _ := json.Marshal(plan)
	if !strings.Contains(string(whole), `"exec":{"argv":["true"]`) {
		t.Errorf("the plan as --plan prints it lacks exec: %s", whole)
	}
	x, err := execMessage(&plan.Exec, nil)
	if err != nil || x.Type != ipc.TypeExec || !strings.Contains(string(x.Data), `"argv":["true"]`) {
		t.Errorf("execMessage = %+v, %v", x, err)
	}
}
