package main

// Adversarial tests of bind sources: a sandbox that can write where a bind
// source lives (a build's writable directory) must not choose what a later
// sandbox mounts from there. Stage 0 resolves each source once and records
// its device and inode; set-up mounts that object or fails with a clear
// error; a source reached through a symlink inside a writable bind of the
// same run is refused.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	markerData      = "DATA-MARKER"
	markerElsewhere = "ELSEWHERE-MARKER"
)

// swapTree makes, in a new directory:
//
//	w/data/marker        markerData: the bind source the runs name
//	w/data.link -> ../elsewhere
//	elsewhere/marker     markerElsewhere: what a swap would mount instead
//
// and returns the directory and w (the runs' working directory, where a
// sandbox could write).
func swapTree(t *testing.T) (dir, w string) {
	t.Helper()
	dir = t.TempDir()
	w = filepath.Join(dir, "w")
	for _, d := range []string{w, w + "/data", dir + "/elsewhere"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, s := range map[string]string{w + "/data/marker": markerData, dir + "/elsewhere/marker": markerElsewhere} {
		if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../elsewhere", w+"/data.link"); err != nil {
		t.Fatal(err)
	}
	return dir, w
}

// startSwapper stands in for a sandbox that owns w: it exchanges w/data
// and w/data.link (renameat2 RENAME_EXCHANGE, atomic) as fast as it can
// until the returned function is called, which says how many swaps it made.
func startSwapper(t *testing.T, w string) (stop func() int) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var swaps int
	var swapErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, w+"/data", unix.AT_FDCWD, w+"/data.link", unix.RENAME_EXCHANGE); err != nil {
				swapErr = err
				return
			}
			swaps++
		}
	}()
	var once sync.Once
	stop = func() int {
		once.Do(func() {
			close(done)
			wg.Wait()
			if swapErr != nil {
				t.Errorf("swapper: %v", swapErr)
			}
		})
		return swaps
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestAttackBindSourceSwapped: while a stand-in for a sandbox swaps ./data
// with a symlink to ../elsewhere, no `--ro-bind ./data:/data` run may show
// elsewhere's contents. Before the fix 2 of 40 runs did: stage 0 checked
// the directory, set-up opened the path again and met the link.
//
// The test proves it could see the harm: on the host, the old sequence
// (look at ./data, find a directory, open ./data/marker by path) reads
// elsewhere's marker while the swapper runs; and a run that fails with
// "changed since it was checked" is one whose check found the directory
// and whose set-up found the link, which the old set-up would have
// followed and mounted.
func TestAttackBindSourceSwapped(t *testing.T) {
	requireSandbox(t)
	_, w := swapTree(t)
	stop := startSwapper(t, w)

	// The old code's window, on the host.
	var checked, redirected int
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		fi, err := os.Lstat(w + "/data")
		if err != nil || !fi.IsDir() {
			continue // the check would have found the link
		}
		checked++
		if b, _ := os.ReadFile(w + "/data/marker"); strings.Contains(string(b), markerElsewhere) {
			redirected++
		}
	}
	t.Logf("host: %d checks found the directory, %d opens by path after them reached elsewhere", checked, redirected)
	if redirected == 0 {
		t.Fatalf("the swapper never redirected a path opened after its check (%d checks): the test cannot see the harm", checked)
	}

	// 40 runs, or fewer (not under 20) when a busy machine makes them
	// slow, unless none has met a changed source yet (about a quarter do).
	const maxRuns, minRuns, budget = 40, 20, 12 * time.Second
	var runs, sawData, sawChanged, failed int
	for start := time.Now(); runs < maxRuns && (runs < minRuns || sawChanged == 0 || time.Since(start) < budget); runs++ {
		i := runs
		r := jailIn(t, w, nil, "--ro-bind", "./data:/data", "--", "cat", "/data/marker")
		switch {
		case strings.Contains(r.stdout, markerElsewhere):
			t.Errorf("run %d mounted elsewhere at /data: %q", i, r.stdout)
		case r.code == 0 && strings.Contains(r.stdout, markerData):
			sawData++
		case r.code == exitSetup && strings.Contains(r.stderr, "changed since it was checked"):
			sawChanged++
			if !strings.Contains(r.stderr, w+"/data") {
				t.Errorf("run %d: the error does not name the source: %s", i, r.stderr)
			}
		default:
			// The check found the link: /data is that link,
			// recreated, leading nowhere inside.
			failed++
		}
	}
	swaps := stop()
	t.Logf("%d swaps; %d runs: %d mounted data, %d refused a changed source, %d saw the link", swaps, runs, sawData, sawChanged, failed)
	if swaps < 1000 {
		t.Errorf("only %d swaps: the swapper did not keep alternating", swaps)
	}
	if sawChanged == 0 {
		t.Errorf("no run met a source changed between check and set-up: the race was never exercised")
	}
}

// TestAttackBindSourceSwappedInBatch: a request of a batch swaps the
// batch's ro-bind source (inside the batch's writable bind) with a link to
// elsewhere; a later request never sees elsewhere's contents. From the
// zygote the template mount is the checked directory itself; without a
// zygote each request's set-up re-opens the source and refuses the link
// (where the old set-up followed it). The host, reading the same path,
// reaches elsewhere: the harm was there to be had.
func TestAttackBindSourceSwappedInBatch(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	for _, zygote := range []bool{true, false} {
		t.Run(fmt.Sprintf("zygote=%v", zygote), func(t *testing.T) {
			if !zygote {
				t.Setenv("JAIL_BATCH_ZYGOTE", "0")
			}
			dir, w := swapTree(t)
			reqs := []string{
				`{"id": "before", "argv": ["cat", "/data/marker"], "stdout": "` + dir + `/before.txt"}`,
				`{"id": "swap", "argv": ["sh", "-c", "mv /w/data /w/data.real && ln -s ../elsewhere /w/data"]}`,
				`{"id": "after", "argv": ["cat", "/data/marker"], "stdout": "` + dir + `/after.txt"}`,
			}
			answers, stderr := runBatch(t, w, []string{"-q", "--bind", ".:/w", "--ro-bind", "./data:/data"}, reqs)
			if len(answers) != len(reqs) {
				t.Fatalf("%d answers to %d requests; stderr: %s", len(answers), len(reqs), stderr)
			}
			if got := fromZygote(answers[0]); got != zygote {
				t.Fatalf("from the zygote: %v, want %v: %v", got, zygote, answers[0])
			}
			if b, _ := os.ReadFile(dir + "/before.txt"); answers[0]["status"] != StatusOK || !strings.Contains(string(b), markerData) {
				t.Fatalf("before the swap: %v, printed %q", answers[0], b)
			}
			if answers[1]["status"] != StatusOK {
				t.Fatalf("swap: %v", answers[1])
			}
			if b, _ := os.ReadFile(w + "/data/marker"); !strings.Contains(string(b), markerElsewhere) {
				t.Fatalf("on the host, w/data does not lead elsewhere after the swap: %q", b)
			}
			after, _ := os.ReadFile(dir + "/after.txt")
			a := answers[2]
			switch {
			case strings.Contains(string(after), markerElsewhere):
				t.Errorf("a later request mounted elsewhere at /data: %v", a)
			case zygote && (a["status"] != StatusOK || !strings.Contains(string(after), markerData)):
				t.Errorf("from the zygote, /data is the checked directory: %v, printed %q", a, after)
			case !zygote && (a["status"] != StatusXX || !strings.Contains(fmt.Sprint(a["message"]), "changed since it was checked")):
				t.Errorf("without a zygote, the changed source is refused: %v, printed %q", a, after)
			}
		})
	}
}

// TestAttackBindSourceThroughPlantedLink: a run with the working directory
// writable plants sub -> ../secret; a later run of the same command line
// that binds ./sub/data must not mount secret/data: it is refused, naming
// the link. With the working directory read-only (no run could have
// planted the link) the same source is followed to secret, which is what
// the planted link would have chosen.
func TestAttackBindSourceThroughPlantedLink(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	w := filepath.Join(dir, "w")
	for _, d := range []string{w, dir + "/secret", dir + "/secret/data"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(dir+"/secret/data/marker", []byte("SECRET-MARKER\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := jailIn(t, w, nil, "--bind", ".:/w", "--", "ln", "-s", "../secret", "/w/sub")
	if l, err := os.Readlink(w + "/sub"); r.code != 0 || err != nil || l != "../secret" {
		t.Fatalf("the first run did not plant the link: exit %d %s, %q %v", r.code, r.stderr, l, err)
	}

	r = jailIn(t, w, nil, "--bind", ".:/w", "--ro-bind", "./sub/data:/data", "--", "cat", "/data/marker")
	if strings.Contains(r.stdout, "SECRET") {
		t.Errorf("the planted link chose what /data mounts: %q", r.stdout)
	}
	for _, want := range []string{".source: " + w + "/sub/data", "symlink " + w + "/sub", "writable bind of " + w} {
		if r.code != exitSetup || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q; want %d naming %q", r.code, r.stderr, exitSetup, want)
		}
	}

	r = jailIn(t, w, nil, "--ro-bind", ".:/w", "--ro-bind", "./sub/data:/data", "--", "cat", "/data/marker")
	if r.code != 0 || !strings.Contains(r.stdout, "SECRET") {
		t.Errorf("through a link outside any writable bind: exit %d, %q %s; want secret's marker", r.code, r.stdout, r.stderr)
	}
}
