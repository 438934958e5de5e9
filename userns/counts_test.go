package userns

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSandboxCounts(t *testing.T) {
	host := map[string]int64{
		"max_inotify_instances": 128,     // a quarter: 32
		"max_inotify_watches":   8192,    // a quarter: 2048
		"max_fanotify_groups":   2,       // a quarter, at least 1
		"max_user_namespaces":   1 << 31, // a container's unbounded value: the cap
		// max_fanotify_marks unknown: the cap
	}
	got := SandboxCounts(func(name string) (int64, bool) { v, ok := host[name]; return v, ok })
	want := []Count{
		{"max_inotify_instances", 32},
		{"max_inotify_watches", 2048},
		{"max_fanotify_groups", 1},
		{"max_fanotify_marks", 65536},
		{"max_user_namespaces", 1024},
	}
	if !slices.Equal(got, want) {
		t.Errorf("SandboxCounts = %v, want %v", got, want)
	}
}

func TestSetCounts(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"max_inotify_instances", "max_user_namespaces"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("2147483647\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// max_fanotify_groups is missing, as on a kernel before 5.13: skipped.
	err := SetCounts(dir, []Count{{"max_inotify_instances", 32}, {"max_fanotify_groups", 8}, {"max_user_namespaces", 1024}})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]string{"max_inotify_instances": "32", "max_user_namespaces": "1024"} {
		if b, _ := os.ReadFile(filepath.Join(dir, n)); string(b) != want {
			t.Errorf("%s = %q, want %q", n, b, want)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "max_user_namespaces"), 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		if err := SetCounts(dir, []Count{{"max_user_namespaces", 1}}); err == nil {
			t.Errorf("SetCounts on a read-only file: no error")
		}
	}
}
