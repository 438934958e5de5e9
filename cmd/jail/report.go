package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// reportVersion is the version of the JSON report's schema. Fields are
// only ever added within a version; a change of meaning bumps it.
const reportVersion = 1

// Verdicts, as judges name them.
const (
	StatusOK = "OK" // exited 0 within every limit
	StatusRE = "RE" // exited with a non-zero status
	StatusSG = "SG" // killed by a signal (not by jail)
	StatusTO = "TO" // CPU or wall time limit
	StatusML = "ML" // memory limit (the cgroup's OOM killer acted)
	StatusOL = "OL" // output limit
	StatusXX = "XX" // jail failed: the sandbox could not be set up
)

// Report is what --report writes, as JSON: how the run ended and what it
// used. Times are in seconds, memory in bytes.
type Report struct {
	Version       int    `json:"version"`
	Status        string `json:"status"`
	Limit         string `json:"limit,omitempty"` // the limit that ended the run: cpu-time, wall-time, memory, output, pids
	ExitCode      int    `json:"exit_code"`       // the command's exit status (0 when a signal killed it)
	Signal        int    `json:"signal,omitempty"`
	Message       string `json:"message,omitempty"`
	Time          Times  `json:"time"`
	Memory        Memory `json:"memory"`
	PidsLimitHits uint64 `json:"pids_limit_hits,omitempty"`
	// Killed: jail (a limit, the OOM killer, a signal in set-up) ended the
	// sandbox, rather than the command ending by itself.
	Killed bool   `json:"killed,omitempty"`
	Output uint64 `json:"output,omitempty"` // bytes of stdout+stderr, when an output limit was set
	// Enforcement says, for each limit asked for, what enforced it
	// ("cgroup2", "cgroup1", "rlimit", "jail" for jail's own timers and
	// counters, "none" when nothing could), plus the cgroup backend used.
	Enforcement map[string]string `json:"enforcement"`
}

// Times are in seconds.
type Times struct {
	CPU    float64 `json:"cpu"` // user + system, all processes of the sandbox
	User   float64 `json:"user"`
	System float64 `json:"system"`
	Wall   float64 `json:"wall"` // from the command's start to its end
	// Jail is the CPU time of jail's own process in the sandbox (its
	// init), which a cgroup counts too and which is not in CPU.
	Jail float64 `json:"jail,omitempty"`
}

// Memory is in bytes.
type Memory struct {
	Peak     uint64 `json:"peak"` // the sandbox's (cgroup), or the largest process's (rusage)
	OOMKills uint64 `json:"oom_kills"`
}

// verdict fills Status and Limit from what happened, in isolate's order of
// precedence: a limit jail enforced, then the OOM killer, then how the
// command ended; a time limit counts even when the command finished
// during the extra time.
func (r *Report) verdict(killedFor string, cpuLimit, wallLimit time.Duration) {
	switch {
	case r.Status == StatusXX:
	case killedFor == "output":
		r.Status, r.Limit = StatusOL, "output"
	case killedFor != "":
		r.Status, r.Limit = StatusTO, killedFor
	case cpuLimit > 0 && (r.Time.CPU > cpuLimit.Seconds() || r.Signal == int(unix.SIGXCPU)):
		// SIGXCPU: RLIMIT_CPU, the per-process backstop, ended it.
		r.Status, r.Limit = StatusTO, "cpu-time"
	case wallLimit > 0 && r.Time.Wall > wallLimit.Seconds():
		r.Status, r.Limit = StatusTO, "wall-time"
	case r.Memory.OOMKills > 0:
		r.Status, r.Limit = StatusML, "memory"
	case r.Signal != 0:
		r.Status = StatusSG
	case r.ExitCode != 0:
		r.Status = StatusRE
	default:
		r.Status = StatusOK
	}
	if r.Limit == "" && r.PidsLimitHits > 0 && r.Status != StatusOK {
		r.Limit = "pids"
	}
	if r.Message == "" {
		r.Message = r.describe(cpuLimit, wallLimit)
	}
}

func (r *Report) describe(cpuLimit, wallLimit time.Duration) string {
	switch r.Limit {
	case "cpu-time":
		return fmt.Sprintf("CPU time limit %s exceeded", cpuLimit)
	case "wall-time":
		return fmt.Sprintf("wall time limit %s exceeded", wallLimit)
	case "memory":
		return "memory limit exceeded (killed by the OOM killer)"
	case "output":
		return "output limit exceeded"
	case "pids":
		return "process limit reached"
	}
	switch r.Status {
	case StatusSG:
		return fmt.Sprintf("caught fatal signal %d", r.Signal)
	case StatusRE:
		return fmt.Sprintf("exited with error status %d", r.ExitCode)
	}
	return ""
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	// 0600: the caller's alone; a later run as another id (the judges)
	// cannot read it where its binds show it.
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// writeMeta writes isolate's meta-file format (key:value lines) so judges
// built on isolate read jail's results unchanged. isolate has no memory or
// output verdict: those are SG (killed) there unless extended is set.
func (r *Report) writeMeta(path string, extended bool) error {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s:%v\n", k, v) }
	kv("time", fmt.Sprintf("%.3f", r.Time.CPU))
	kv("time-wall", fmt.Sprintf("%.3f", r.Time.Wall))
	kv("max-rss", r.Memory.Peak/1024)
	if strings.HasPrefix(r.Enforcement["backend"], "cgroup") {
		kv("cg-mem", r.Memory.Peak/1024)
		if r.Memory.OOMKills > 0 {
			kv("cg-oom-killed", 1)
		}
	}
	status := r.Status
	sig := r.Signal
	if !extended && (status == StatusML || status == StatusOL) {
		// isolate's nearest: killed by SIGKILL (it always pairs SG
		// with an exitsig).
		status = StatusSG
		if sig == 0 {
			sig = 9
		}
	}
	if sig != 0 {
		kv("exitsig", sig)
	} else {
		kv("exitcode", r.ExitCode)
	}
	if r.Killed {
		kv("killed", 1)
	}
	if status != StatusOK {
		kv("status", status)
	}
	if r.Message != "" {
		kv("message", r.Message)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
