package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

func init() {
	// clocks: CLOCK_MONOTONIC and CLOCK_BOOTTIME in nanoseconds, the
	// first field of /proc/uptime, and the namespace's offsets file.
	roles["clocks"] = func(args []string) int {
		fmt.Print(readClocks())
		offsets, err := os.ReadFile("/proc/self/timens_offsets")
		if err != nil {
			fmt.Println("offsets error", err)
			return 1
		}
		for _, l := range strings.Split(strings.TrimSpace(string(offsets)), "\n") {
			fmt.Println("offset", strings.Join(strings.Fields(l), " "))
		}
		return 0
	}
}

// readClocks reads the clocks a time namespace moves, as lines
// "monotonic NS", "boottime NS", "uptime SECS".
func readClocks() string {
	var mono, boot unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	up, _ := os.ReadFile("/proc/uptime")
	return fmt.Sprintf("monotonic %d\nboottime %d\nuptime %s\n", mono.Nano(), boot.Nano(), strings.Fields(string(up))[0])
}

// clockValues parses readClocks's lines (and any others) into a map.
func clockValues(t *testing.T, out string) map[string]string {
	t.Helper()
	v := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, rest, _ := strings.Cut(l, " ")
		if k == "offset" {
			k, rest, _ = strings.Cut(rest, " ")
			k = "offset." + k
		}
		v[k] = rest
	}
	return v
}

// clockNS is a clock reading in nanoseconds: "monotonic" and "boottime" as
// they are, "uptime" from its seconds with centiseconds.
func clockNS(t *testing.T, v map[string]string, name string) time.Duration {
	t.Helper()
	if name == "uptime" {
		f, err := strconv.ParseFloat(v[name], 64)
		if err != nil {
			t.Fatalf("uptime %q: %v", v[name], err)
		}
		return time.Duration(f * float64(time.Second))
	}
	n, err := strconv.ParseInt(v[name], 10, 64)
	if err != nil {
		t.Fatalf("%s %q: %v", name, v[name], err)
	}
	return time.Duration(n)
}

func TestTimeOffsets(t *testing.T) {
	requireSandbox(t)
	const mono, boot = 365 * 24 * time.Hour, 2 * 24 * time.Hour
	p := helperProfile(t, "[time]\nmonotonic = \"365d\"\nboottime = \"2d\"\n")
	before := clockValues(t, readClocks())
	out := mustSucceed(t, "--profile", p, "--", "/jailtest", "__role", "clocks")
	after := clockValues(t, readClocks())
	inside := clockValues(t, out)
	for _, c := range []struct {
		name string
		off  time.Duration
		slop time.Duration // the resolution of the reading
	}{
		{"monotonic", mono, 0},
		{"boottime", boot, 0},
		{"uptime", boot, 10 * time.Millisecond},
	} {
		lo := clockNS(t, before, c.name) + c.off - c.slop
		hi := clockNS(t, after, c.name) + c.off + c.slop
		got := clockNS(t, inside, c.name)
		if got < lo || got > hi {
			t.Errorf("%s inside = %v, want the host's + %v: between %v and %v", c.name, got, c.off, lo, hi)
		}
	}
	if inside["offset.monotonic"] != "31536000 0" || inside["offset.boottime"] != "172800 0" {
		t.Errorf("timens_offsets inside: monotonic %q, boottime %q", inside["offset.monotonic"], inside["offset.boottime"])
	}
}

// TestTimeNamespaceWithoutOffsets: the default profile has none, and the
// namespace is still new (TestAllNamespacesDiffer checks the link too).
func TestTimeNamespaceWithoutOffsets(t *testing.T) {
	requireSandbox(t)
	out := mustSucceed(t, "--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "clocks")
	inside := clockValues(t, out)
	if inside["offset.monotonic"] != "0 0" || inside["offset.boottime"] != "0 0" {
		t.Errorf("timens_offsets inside: %q", out)
	}
	host, _ := os.Readlink("/proc/self/ns/time")
	ns := mustSucceed(t, "--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "ns", "time")
	if got := strings.TrimSpace(strings.TrimPrefix(ns, "time ")); got == host || !strings.HasPrefix(got, "time:[") {
		t.Errorf("time namespace inside %q, host %q", got, host)
	}
}

// TestTimeOffsetBeyondUptime: the kernel refuses a clock below zero; jail
// says which key and how long the host has been up.
func TestTimeOffsetBeyondUptime(t *testing.T) {
	requireSandbox(t)
	for _, key := range []string{"monotonic", "boottime"} {
		t.Run(key, func(t *testing.T) {
			p := writeProfile(t, fmt.Sprintf("[time]\n%s = \"-3650d\"\n", key))
			r := jail(t, "--profile", p, "--", "true")
			if r.code != exitSetup {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, exitSetup, r.stderr)
			}
			for _, want := range []string{"time." + key, "-3650d", "below zero", p} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q lacks %q", r.stderr, want)
				}
			}
		})
	}
}

func TestOffsetsFile(t *testing.T) {
	h := func(n int) profile.Offset { return profile.Offset(time.Duration(n) * time.Hour) }
	for _, tc := range []struct {
		spec, base TimeSpec
		want       string
	}{
		{TimeSpec{}, TimeSpec{}, ""},
		{TimeSpec{Monotonic: h(365 * 24)}, TimeSpec{}, "monotonic 31536000 0\n"},
		{TimeSpec{Boottime: h(-2)}, TimeSpec{}, "boottime -7200 0\n"},
		{TimeSpec{Monotonic: profile.Offset(-1500 * time.Millisecond), Boottime: profile.Offset(time.Nanosecond)}, TimeSpec{},
			"monotonic -2 500000000\nboottime 0 1\n"},
		// Inside a time namespace of its own: relative to the caller's
		// clocks; a clock the profile leaves alone keeps the caller's.
		{TimeSpec{Monotonic: h(1)}, TimeSpec{Monotonic: h(2), Boottime: h(3)}, "monotonic 10800 0\n"},
		{TimeSpec{Monotonic: h(-2)}, TimeSpec{Monotonic: h(2)}, "monotonic 0 0\n"},
	} {
		if got := tc.spec.offsetsFile(tc.base); got != tc.want {
			t.Errorf("%+v on %+v: %q, want %q", tc.spec, tc.base, got, tc.want)
		}
	}
}

func TestParseOffsets(t *testing.T) {
	got := parseOffsets("monotonic -2 500000000\nboottime   172800          0\n")
	want := TimeSpec{Monotonic: profile.Offset(-1500 * time.Millisecond), Boottime: profile.Offset(48 * time.Hour)}
	if got != want {
		t.Errorf("parseOffsets: %+v, want %+v", got, want)
	}
	if got := parseOffsets("1 5 0\n7 6 0\n"); got != (TimeSpec{Monotonic: profile.Offset(5 * time.Second), Boottime: profile.Offset(6 * time.Second)}) {
		t.Errorf("parseOffsets by clock number: %+v", got)
	}
	// This process's own: the host's are zero, and the file must parse.
	if b, err := os.ReadFile("/proc/self/timens_offsets"); err == nil {
		if len(strings.Fields(string(b))) != 6 {
			t.Errorf("/proc/self/timens_offsets: %q", b)
		}
	}
}

// TestTimeSpecJSON: the plan carries the offsets as text and reads them back.
func TestTimeSpecJSON(t *testing.T) {
	for _, in := range []TimeSpec{
		{},
		{Monotonic: profile.Offset(365 * 24 * time.Hour), Boottime: profile.Offset(-36*time.Hour - time.Second)},
		{Monotonic: profile.Offset(1500 * time.Millisecond), Boottime: profile.Offset(-time.Nanosecond)},
	} {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out TimeSpec
		if err := json.Unmarshal(b, &out); err != nil || out != in {
			t.Errorf("%+v → %s → %+v, %v", in, b, out, err)
		}
	}
}
