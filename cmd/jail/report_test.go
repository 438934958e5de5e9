package main

import (
	"strings"
	"testing"
	"time"
)

func TestVerdictAndMeta(t *testing.T) {
	cases := []struct {
		name     string
		rep      Report
		killed   string
		cpu      time.Duration
		status   string
		extended bool
		meta     []string // lines that must be in the meta file
		not      []string // lines that must not
	}{
		{name: "ok", rep: Report{}, status: StatusOK, meta: []string{"exitcode:0"}, not: []string{"status:", "killed:1"}},
		{name: "re", rep: Report{ExitCode: 3}, status: StatusRE, meta: []string{"exitcode:3", "status:RE"}},
		{name: "sg", rep: Report{Signal: 11}, status: StatusSG, meta: []string{"exitsig:11", "status:SG"}},
		{name: "to killed", rep: Report{Signal: 9, Killed: true}, killed: "cpu-time", cpu: time.Second, status: StatusTO, meta: []string{"status:TO", "killed:1", "exitsig:9"}},
		{name: "to in extra time", rep: Report{Time: Times{CPU: 1.2}}, cpu: time.Second, status: StatusTO, meta: []string{"status:TO", "exitcode:0"}, not: []string{"killed:1"}},
		{name: "ml as isolate", rep: Report{Memory: Memory{OOMKills: 1}}, status: StatusML, meta: []string{"status:SG", "exitsig:9"}, not: []string{"exitcode:"}},
		{name: "ml extended", rep: Report{Memory: Memory{OOMKills: 1}}, status: StatusML, extended: true, meta: []string{"status:ML", "exitcode:0"}},
		{name: "sigxcpu", rep: Report{Signal: 24}, cpu: time.Second, status: StatusTO, meta: []string{"status:TO", "exitsig:24"}},
		{name: "ol", rep: Report{Signal: 9, Killed: true}, killed: "output", status: StatusOL, meta: []string{"status:SG", "exitsig:9", "killed:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rep
			r.Enforcement = map[string]string{"backend": "cgroup1"}
			r.verdict(tc.killed, tc.cpu, 0)
			if r.Status != tc.status {
				t.Errorf("status %s, want %s", r.Status, tc.status)
			}
			b := r.encodeMeta(tc.extended)
			for _, l := range tc.meta {
				if !strings.Contains(string(b), l) {
					t.Errorf("meta lacks %q:\n%s", l, b)
				}
			}
			for _, l := range tc.not {
				if strings.Contains(string(b), l) {
					t.Errorf("meta has %q:\n%s", l, b)
				}
			}
		})
	}
}
