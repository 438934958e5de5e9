package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runBatch feeds requests to `jail batch` and returns its answers.
func runBatch(t *testing.T, dir string, args []string, reqs []string) ([]map[string]any, string) {
	t.Helper()
	cmd := exec.Command(jailBin, append([]string{"batch"}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(reqs, "\n") + "\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("jail batch: %v\nstderr: %s", err, errb.String())
	}
	var answers []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var a map[string]any
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("answer %q: %v", sc.Text(), err)
		}
		answers = append(answers, a)
	}
	return answers, errb.String()
}

// TestBatch: every request gets a fresh sandbox, its own limits and its
// own answer, in order; a bad request is answered XX and the batch goes on.
func TestBatch(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("20 22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var reqs []string
	for i := 0; i < n; i++ {
		// Each run sees no file of the runs before (a fresh /tmp), has a
		// small pid (a fresh PID namespace) and leaves a file for the next
		// to find.
		reqs = append(reqs, fmt.Sprintf(`{"id": "r%d", "argv": ["sh", "-c", "ls /tmp; echo $$; read a b; echo $((a+b)); touch /tmp/left-by-%d"], "stdin": "in.txt", "stdout": "out%d.txt"}`, i, i, i))
	}
	reqs = append(reqs,
		`{"id": "slow", "argv": ["sh", "-c", "while :; do :; done"], "limits": {"cpu-time": "0.3s"}, "report": "slow.json"}`,
		`{"id": "exit3", "argv": ["sh", "-c", "echo oops >&2; exit 3"], "stderr": "err.txt"}`,
		`{"id": "bad", "argv": ["true"], "frobnicate": 1}`,
		`{"id": "noargv"}`,
		`{"id": "badlimit", "argv": ["true"], "limits": {"hostname": "x"}}`,
		`{"id": "missing", "argv": ["no-such-command"]}`,
		`{"id": "last", "argv": ["true"]}`,
	)
	answers, stderr := runBatch(t, dir, []string{"-q"}, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers to %d requests; stderr: %s", len(answers), len(reqs), stderr)
	}
	for i := 0; i < n; i++ {
		a := answers[i]
		if a["id"] != fmt.Sprintf("r%d", i) || a["status"] != StatusOK {
			t.Errorf("answer %d: %v", i, a)
			continue
		}
		out, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%d.txt", i)))
		var pid, sum int
		if n, _ := fmt.Sscanf(string(out), "%d\n%d\n", &pid, &sum); err != nil || n != 2 || pid > 64 || sum != 42 {
			t.Errorf("run %d printed %q (%v), want an empty /tmp, a small pid and 42", i, out, err)
		}
	}
	want := map[string]string{"slow": StatusTO, "exit3": StatusRE, "bad": StatusXX, "noargv": StatusXX, "badlimit": StatusXX, "missing": StatusRE, "last": StatusOK}
	for _, a := range answers[n:] {
		id, _ := a["id"].(string)
		if a["status"] != want[id] {
			t.Errorf("%s: status %v, want %s: %v", id, a["status"], want[id], a)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "slow.json")); err != nil || !strings.Contains(string(b), `"limit": "cpu-time"`) {
		t.Errorf("slow.json: %s %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "err.txt")); string(b) != "oops\n" {
		t.Errorf("err.txt = %q", b)
	}
	if a := answers[n+1]; a["exit_code"] != float64(3) {
		t.Errorf("exit3: %v", a)
	}
}

func TestBatchUsage(t *testing.T) {
	for _, args := range [][]string{{"--", "ls"}, {"--stdout", "x"}, {"--frob"}} {
		cmd := exec.Command(jailBin, append([]string{"batch"}, args...)...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage {
			t.Errorf("jail batch %q: %v %s, want exit %d", args, err, out, exitUsage)
		}
	}
	cmd := exec.Command(jailBin, "batch", "-p", "no-such-profile")
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no-such-profile") {
		t.Errorf("bad profile: %v %s", err, out)
	}
}

func TestRequestReader(t *testing.T) {
	type line struct {
		text string
		long bool
	}
	for _, tc := range []struct {
		name string
		in   string
		want []line
	}{
		{"lines", "a\nbb\n\nccc\n", []line{{"a", false}, {"bb", false}, {"", false}, {"ccc", false}}},
		{"no final newline", "a\nbb", []line{{"a", false}, {"bb", false}}},
		{"at the limit", "12345678\nx\n", []line{{"12345678", false}, {"x", false}}},
		{"over the limit", "123456789\nx\n", []line{{"", true}, {"x", false}}},
		{"far over, last", "x\n" + strings.Repeat("y", 100000), []line{{"x", false}, {"", true}}},
		{"far over, then more", strings.Repeat("y", 100000) + "\n" + strings.Repeat("z", 9) + "\nok\n", []line{{"", true}, {"", true}, {"ok", false}}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A small buffer, so that long lines span many reads.
			q := &requestReader{r: bufio.NewReaderSize(strings.NewReader(tc.in), 16), max: 8}
			var got []line
			for {
				l, long, err := q.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, line{string(l), long})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestBatchLongRequestLine: a request line over 1 MiB aborted the whole
// batch (exit 125, later requests unanswered; issue 11). Now it gets an XX
// answer of its own and the batch goes on.
func TestBatchLongRequestLine(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	long := fmt.Sprintf(`{"id": "long", "argv": ["true", %q]}`, strings.Repeat("x", maxRequestLine))
	answers, stderr := runBatch(t, dir, []string{"-q"}, []string{
		`{"id": "before", "argv": ["true"]}`, long, `{"id": "after", "argv": ["sh", "-c", "exit 3"]}`,
	})
	if len(answers) != 3 {
		t.Fatalf("%d answers to 3 requests; stderr: %s", len(answers), stderr)
	}
	if a := answers[0]; a["id"] != "before" || a["status"] != StatusOK {
		t.Errorf("answer 0: %v", a)
	}
	if a := answers[1]; a["status"] != StatusXX || !strings.Contains(fmt.Sprint(a["message"]), "line longer than") {
		t.Errorf("answer 1 (the long line): %v", a)
	}
	if a := answers[2]; a["id"] != "after" || a["status"] != StatusRE || a["exit_code"] != float64(3) {
		t.Errorf("answer 2: %v", a)
	}
}
