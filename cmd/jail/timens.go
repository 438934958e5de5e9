package main

// The sandbox's time namespace: timens.c creates it in stage 2 before the Go
// runtime starts, with the profile's offsets; this file computes what it
// writes and turns its failures into messages.

/*
#include "timens.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

// timensEnv is the variable stage 1 sets for stage 2: see timens.c.
const timensEnv = C.JAIL_TIMENS_ENV

// TimeSpec is the offsets of the sandbox's time namespace.
type TimeSpec struct {
	Monotonic profile.Offset `json:"monotonic,omitempty"`
	Boottime  profile.Offset `json:"boottime,omitempty"`
}

// UnmarshalJSON reads the offsets as MarshalText of profile.Offset wrote
// them ("365d", "-2h0m0s").
func (t *TimeSpec) UnmarshalJSON(b []byte) error {
	var raw struct{ Monotonic, Boottime string }
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, f := range []struct {
		s   string
		off *profile.Offset
	}{{raw.Monotonic, &t.Monotonic}, {raw.Boottime, &t.Boottime}} {
		*f.off = 0
		if f.s == "" {
			continue
		}
		o, err := profile.ParseOffset(f.s)
		if err != nil {
			return err
		}
		*f.off = o
	}
	return nil
}

// clocks pairs each offset with its clock and its profile key.
func (t TimeSpec) clocks() []struct {
	name string
	id   int32
	off  profile.Offset
} {
	return []struct {
		name string
		id   int32
		off  profile.Offset
	}{
		{"monotonic", unix.CLOCK_MONOTONIC, t.Monotonic},
		{"boottime", unix.CLOCK_BOOTTIME, t.Boottime},
	}
}

// offsetsFile is what timens.c writes to /proc/self/timens_offsets: one line
// per non-zero offset, "CLOCK SECS NANOS", nanoseconds never negative as
// the kernel wants them ("-1.5s" is "-2 500000000"). The kernel takes them
// from its own clocks, not from the caller's: base, the offsets of the
// caller's time namespace (callerOffsets), is added so that the sandbox's
// clocks differ from the caller's by the profile's offsets. A clock the
// profile does not move keeps the caller's offset (a new namespace starts
// with its parent's).
func (t TimeSpec) offsetsFile(base TimeSpec) string {
	var b strings.Builder
	bases := base.clocks()
	for i, c := range t.clocks() {
		if c.off == 0 {
			continue
		}
		d := time.Duration(c.off + bases[i].off)
		sec, nsec := int64(d/time.Second), int64(d%time.Second)
		if nsec < 0 {
			sec, nsec = sec-1, nsec+int64(time.Second)
		}
		fmt.Fprintf(&b, "%s %d %d\n", c.name, sec, nsec)
	}
	return b.String()
}

// callerOffsets reads the offsets of this process's own time namespace:
// zero on the host, and where time namespaces do not exist.
func callerOffsets() TimeSpec {
	b, err := os.ReadFile("/proc/self/timens_offsets")
	if err != nil {
		return TimeSpec{}
	}
	return parseOffsets(string(b))
}

// parseOffsets reads the lines of a timens_offsets file, "CLOCK SECS NANOS",
// the clock by name or by number.
func parseOffsets(s string) TimeSpec {
	var t TimeSpec
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		sec, err1 := strconv.ParseInt(f[1], 10, 64)
		nsec, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		off := profile.Offset(time.Duration(sec)*time.Second + time.Duration(nsec))
		switch f[0] {
		case "monotonic", strconv.Itoa(unix.CLOCK_MONOTONIC):
			t.Monotonic = off
		case "boottime", strconv.Itoa(unix.CLOCK_BOOTTIME):
			t.Boottime = off
		}
	}
	return t
}

// checkOffsets refuses, with the profile's line, a negative offset larger
// than the clock it moves: the kernel would (ERANGE), since the sandbox's
// clock would start below zero.
func checkOffsets(p *profile.Profile) error {
	for _, c := range (TimeSpec{Monotonic: p.Time.Monotonic, Boottime: p.Time.Boottime}).clocks() {
		if c.off >= 0 {
			continue
		}
		if msg := offsetTooLarge(c.name, c.id, c.off); msg != "" {
			key := "time." + c.name
			return &profile.Error{File: p.File, Line: p.LineOf(key), Key: key, Msg: msg}
		}
	}
	return nil
}

// offsetTooLarge says why a negative offset cannot be applied on this host,
// or returns "" when it can.
func offsetTooLarge(name string, clock int32, off profile.Offset) string {
	var ts unix.Timespec
	if unix.ClockGettime(clock, &ts) != nil {
		return ""
	}
	now := time.Duration(ts.Nano())
	if now+time.Duration(off) >= 0 {
		return ""
	}
	what := "the host has been up for only"
	if name == "monotonic" {
		what = "the host's monotonic clock reads only"
	}
	return fmt.Sprintf("%s offset %s would put the sandbox's clock below zero: %s %s",
		name, off, what, now.Round(time.Second))
}

// timensError reports what timens.c did in this process (stage 2): nil
// when it is in its new time namespace, else the failed step.
func timensError(t TimeSpec) error {
	r := &C.jail_timens
	if r.done == 1 {
		return nil
	}
	if r.step == nil {
		return fmt.Errorf("the time namespace was not created (%s missing from stage 2's environment)", timensEnv)
	}
	step, errno := C.GoString(r.step), syscall.Errno(r.err)
	clock := C.GoString(&r.clock[0])
	if errno == unix.ERANGE && clock != "" {
		for _, c := range t.clocks() {
			if c.name != clock {
				continue
			}
			msg := offsetTooLarge(c.name, c.id, c.off)
			if msg == "" {
				msg = fmt.Sprintf("%s offset %s is out of the kernel's range", c.name, c.off)
			}
			return &timensErr{step: step, errno: errno, msg: fmt.Sprintf("%s (profile key time.%s)", msg, c.name)}
		}
	}
	msg := fmt.Sprintf("%s: %s", step, errno)
	if clock != "" {
		msg = fmt.Sprintf("%s offset: %s", clock, msg)
	}
	return &timensErr{step: step, errno: errno, msg: msg}
}

// timensErr keeps the errno for errors.Is and the stage error's fields.
type timensErr struct {
	step  string
	errno syscall.Errno
	msg   string
}

func (e *timensErr) Error() string { return e.msg }
func (e *timensErr) Unwrap() error { return e.errno }
