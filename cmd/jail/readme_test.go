package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// example is one "$ command" of a console block in README.md, with the
// output shown under it. A line "..." in the output matches any lines.
type example struct {
	line int
	cmd  string
	want []string
}

// readmeExamples parses the ```console blocks of README.md: "$ " starts a
// command, "> " continues it, other lines are its expected output.
func readmeExamples(t *testing.T) [][]example {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]example
	var cur []example
	in := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "```console":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case !in:
		case strings.HasPrefix(line, "$ "):
			cur = append(cur, example{line: i + 1, cmd: line[2:]})
		case strings.HasPrefix(line, "> ") || line == ">":
			cur[len(cur)-1].cmd += "\n" + strings.TrimPrefix(strings.TrimPrefix(line, ">"), " ")
		default:
			cur[len(cur)-1].want = append(cur[len(cur)-1].want, line)
		}
	}
	return blocks
}

func matchLines(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && matchLines(got[1:], want[1:])
}

// TestReadmeExamples runs every console example of the README, each block
// in a fresh directory, with the built jail first on PATH.
func TestReadmeExamples(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("the README's examples are an unprivileged user's session (root's sandbox is mapped away from root)")
	}
	requireSandbox(t)
	blocks := readmeExamples(t)
	if len(blocks) < 2 {
		t.Fatalf("found %d console blocks in README.md", len(blocks))
	}
	path := filepath.Dir(jailBin) + ":/usr/local/bin:/usr/bin:/bin"
	for _, block := range blocks {
		if os.Getenv("JAIL_TEST_SUBID") != "1" && strings.Contains(fmt.Sprint(block), "--profile judge-") {
			t.Logf("README.md:%d: skipped: the judge profiles need a /etc/subuid range (JAIL_TEST_SUBID=1)", block[0].line)
			continue
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil { // a judge's submission runs as another uid
			t.Fatal(err)
		}
		for _, ex := range block {
			cmd := withUmask(ex.cmd)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+path, "PWD="+dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			_ = cmd.Run() // the expected output shows the status where it matters
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if out.Len() == 0 {
				got = nil
			}
			if !matchLines(got, ex.want) {
				t.Errorf("README.md:%d: $ %s\ngot:\n%s\nwant:\n%s", ex.line, ex.cmd, out.String(), strings.Join(ex.want, "\n"))
			}
		}
	}
}
