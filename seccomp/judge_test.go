//go:build cgo && linux && amd64

package seccomp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Each program reads n from stdin, prints n*n, allocates some memory and
// (where the language makes it natural) computes on a second thread.
var judgePrograms = []struct {
	lang, file, src string
	build           func(dir, src string) ([]string, error) // returns argv to run
}{
	{"c-static", "a.c", `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) { long n; if (scanf("%ld", &n) != 1) return 2;
  char *p = malloc(64 << 20); memset(p, 1, 64 << 20);
  printf("%ld\n", n * n + p[12345] - 1); free(p); return 0; }`, cc("gcc", "-O2", "-static")},
	{"c-dynamic", "a.c", `#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
static long n, r;
static void *sq(void *a) { r = n * n; return a; }
int main(void) { if (scanf("%ld", &n) != 1) return 2;
  long *v = calloc(1 << 22, sizeof *v); v[7] = 0;
  pthread_t t; if (pthread_create(&t, 0, sq, 0)) return 3; pthread_join(t, 0);
  printf("%ld\n", r + v[7]); return 0; }`, cc("gcc", "-O2", "-pthread")},
	{"c++", "a.cpp", `#include <iostream>
#include <thread>
#include <vector>
int main() { long n; std::cin >> n; std::vector<long> v(1 << 22, 1); long r = 0;
  std::thread t([&] { r = n * n; }); t.join();
  std::cout << r + v[99] - 1 << std::endl; }`, cc("g++", "-O2", "-std=c++17", "-pthread")},
	{"go", "main.go", `package main
import "fmt"
func main() { var n int64; fmt.Scan(&n); v := make([]int64, 1<<22); v[5] = n
  c := make(chan int64); go func() { c <- v[5] * v[5] }(); fmt.Println(<-c) }`, goBuild},
	{"rust", "main.rs", `use std::io::Read;
fn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap();
  let n: i64 = s.trim().parse().unwrap(); let v = vec![1i64; 1 << 22];
  let h = std::thread::spawn(move || n * n); println!("{}", h.join().unwrap() + v[3] - 1); }`, rustBuild},
	{"python3", "a.py", `import sys, threading
n = int(sys.stdin.readline()); v = [0] * (1 << 20); r = []
t = threading.Thread(target=lambda: r.append(n * n)); t.start(); t.join()
print(r[0] + v[9])`, pyBuild},
	{"java", "Main.java", `import java.util.*;
public class Main { public static void main(String[] a) throws Exception {
  Scanner in = new Scanner(System.in); long n = in.nextLong(); long[] v = new long[1 << 22];
  long[] r = new long[1]; Thread t = new Thread(() -> r[0] = n * n); t.start(); t.join();
  System.out.println(r[0] + v[11]); } }`, javaBuild},
}

func cc(compiler string, flags ...string) func(dir, src string) ([]string, error) {
	return func(dir, src string) ([]string, error) {
		out := filepath.Join(dir, "a.out")
		return []string{out}, build(dir, compiler, append(flags, "-o", out, src)...)
	}
}

func goBuild(dir, src string) ([]string, error) {
	out := filepath.Join(dir, "prog")
	return []string{out}, build(dir, "go", "build", "-o", out, src)
}

func rustBuild(dir, src string) ([]string, error) {
	out := filepath.Join(dir, "prog")
	return []string{out}, build(dir, "rustc", "-O", "-o", out, src)
}

func pyBuild(dir, src string) ([]string, error) {
	// Resolve the real interpreter: python3 on PATH may be a shell shim
	// (pyenv), which is not what a judge runs.
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return nil, err
	}
	return []string{strings.TrimSpace(string(out)), src}, nil
}

func javaBuild(dir, src string) ([]string, error) {
	// No perf data: a JVM would leave /tmp/hsperfdata_$USER behind.
	if err := build(dir, "javac", "-J-XX:-UsePerfData", src); err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, err
	}
	return []string{java, "-XX:-UsePerfData", "-Xmx256m", "-Xss64m", "-cp", dir, "Main"}, nil
}

func build(dir, tool string, args ...string) error {
	if _, err := exec.LookPath(tool); err != nil {
		return errSkip{tool + " not installed"}
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
	}
	return nil
}

type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

// TestJudgeLanguages proves the judge allow-list: each language's program
// runs to the right answer under the judge filter, loaded as jail's command
// process does (no_new_privs, the filter, execve).
func TestJudgeLanguages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs programs in six languages")
	}
	for _, p := range judgePrograms {
		t.Run(p.lang, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(dir, p.file)
			if err := os.WriteFile(src, []byte(p.src), 0o644); err != nil {
				t.Fatal(err)
			}
			argv, err := p.build(dir, src)
			if s, ok := err.(errSkip); ok {
				t.Skip(s.why)
			}
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("build: %v\n%s", err, ee.Stderr)
			} else if err != nil {
				t.Fatalf("build: %v", err)
			}
			for _, base := range []string{"none", "judge"} {
				cmd := exec.Command("/proc/self/exe", append([]string{base}, argv...)...)
				cmd.Env = append(os.Environ(), roleEnv+"=run")
				cmd.Stdin = strings.NewReader("12345\n")
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil || strings.TrimSpace(string(out)) != "152399025" {
					t.Errorf("base %s: %v: %v\nstdout: %q\nstderr: %s", base, argv, err, out, stderr.String())
				}
			}
		})
	}
}
