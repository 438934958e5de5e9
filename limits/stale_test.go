package limits

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestOwnerPid(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"jail-1234-abcdef", 1234, true},
		{"jail-t1", 0, false},
		{"jail--x", 0, false},
		{"jail-0-x", 0, false},
	} {
		pid, ok := ownerPid(tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("ownerPid(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

func TestSweepStale(t *testing.T) {
	parent := t.TempDir()
	mk := func(name string, procs string) string {
		d := filepath.Join(parent, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(procs), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A fake tree: rmdir fails on a non-empty directory, so a swept leaf
	// shows as an attempt only where the real cgroupfs would allow it.
	// Check the choices instead: live owner and busy leaves are kept.
	live := mk("jail-"+itoa(os.Getpid())+"-aa", "")
	busy := mk("jail-999999999-bb", "42\n")
	sweepStale(parent)
	for _, d := range []string{live, busy} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
	if alive(999999999) || !alive(os.Getpid()) {
		t.Error("alive() is wrong")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
