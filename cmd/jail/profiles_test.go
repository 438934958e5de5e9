package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Each built-in profile runs a real workload, as a new user would: from
// the directory the work is in, with the profile's own name.

// writeTree makes a directory of files readable by others, whatever the
// umask: the judge profiles run the command as another uid (1000).
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// withUmask runs argv, or a shell command line, under the usual umask 022
// rather than the test's: what a compiler writes is then readable and
// executable by others, as a judge's files are for its submissions.
func withUmask(argv ...string) *exec.Cmd {
	if len(argv) == 1 {
		return exec.Command("sh", "-c", "umask 022; "+argv[0])
	}
	return exec.Command("sh", append([]string{"-c", `umask 022; exec "$@"`, "sh"}, argv...)...)
}

// requireJudgeIDs skips where the judge profiles are refused: without a
// sub-uid range they cannot run the submission as an id of its own.
func requireJudgeIDs(t *testing.T) {
	t.Helper()
	if os.Getenv("JAIL_TEST_SUBID") != "1" {
		t.Skip("the judge profiles need a /etc/subuid range (JAIL_TEST_SUBID=1)")
	}
}

func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("JAIL_TEST_MUST_WORK") == "1" {
				t.Fatalf("%s is not installed (scripts/test.sh installs it)", n)
			}
			t.Skipf("%s is not installed", n)
		}
	}
}

func TestBuildProfileBuildsACProject(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "make", "gcc")
	dir := writeTree(t, map[string]string{
		"Makefile": "hello: hello.o\n\t$(CC) -o $@ $^\nhello.o: hello.c\n\t$(CC) -O2 -c -o $@ $<\n",
		"hello.c":  "#include <stdio.h>\nint main(void) { puts(\"built in jail\"); return 0; }\n",
	})
	r := jailIn(t, dir, nil, "--profile", "build", "--", "make")
	if r.code != 0 {
		t.Fatalf("jail --profile build -- make: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, f := range []string{"hello", "hello.o"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("the build's output: %v", err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
			t.Errorf("%s is owned by %d:%d, want the caller %d:%d", f, st.Uid, st.Gid, os.Getuid(), os.Getgid())
		}
	}
	if out, err := exec.Command(filepath.Join(dir, "hello")).Output(); err != nil || string(out) != "built in jail\n" {
		t.Errorf("the built program: %q, %v", out, err)
	}

	// The rest: HOME is private and writable, the system read-only, no
	// network but lo, and the directory is at its own path.
	home, _ := os.UserHomeDir()
	marker := "jail-build-test-" + strconv.Itoa(os.Getpid())
	r = jailIn(t, dir, nil, "--profile", "build", "--", "sh", "-c",
		`pwd; echo x > "$HOME/`+marker+`" && echo home-ok; touch /usr/x 2>/dev/null || echo usr-ro; ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '`)
	if want := dir + "\nhome-ok\nusr-ro\nlo\n"; r.code != 0 || r.stdout != want {
		t.Errorf("got exit %d %q, want %q (stderr %s)", r.code, r.stdout, want, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, marker)); err == nil {
		os.Remove(filepath.Join(home, marker))
		t.Errorf("a file written to HOME inside reached the host's HOME")
	}
}

func TestCIProfilePassesCIVariablesNotTokens(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	r := jailIn(t, dir, []string{"CI=true", "GITHUB_SHA=abc123", "GITHUB_TOKEN=secret", "CI_JOB_TOKEN=secret2", "AWS_SECRET_ACCESS_KEY=nope"},
		"--profile", "ci", "--", "env")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"CI=true", "GITHUB_SHA=abc123", "HOME=", "PATH="} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("env inside lacks %s:\n%s", want, r.stdout)
		}
	}
	for _, not := range []string{"secret", "AWS_SECRET", "nope"} {
		if strings.Contains(r.stdout, not) {
			t.Errorf("env inside has %s:\n%s", not, r.stdout)
		}
	}
}

// Credentials whose names match one of ci's kept prefixes (CI_*,
// BUILDKITE_*, CIRCLE_*) but are not in its unset list reached the command
// (issue 11): a prefix never passes a name that looks like a credential.
// The proof that the check would see the leak: the same variable named
// exactly with --keep-env gets in.
func TestCIProfileKeepsNoCredentialsThroughPrefixes(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	creds := []string{"CI_NETRC_PASSWORD", "CI_NETRC_USERNAME", "CI_BUILD_TOKEN", "BUILDKITE_AGENT_JOB_API_TOKEN", "CIRCLE_TOKEN"}
	env := []string{"CI_COMMIT_SHA=c0ffee", "BUILDKITE_BUILD_NUMBER=7", "CIRCLE_BRANCH=main"}
	for _, c := range creds {
		env = append(env, c+"=leaked-"+c)
	}
	r := jailIn(t, dir, env, "--profile", "ci", "--", "env")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"CI_COMMIT_SHA=c0ffee", "BUILDKITE_BUILD_NUMBER=7", "CIRCLE_BRANCH=main"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("env inside lacks %s:\n%s", want, r.stdout)
		}
	}
	for _, c := range creds {
		if strings.Contains(r.stdout, c) {
			t.Errorf("env inside has %s through a kept prefix:\n%s", c, r.stdout)
		}
	}
	r = jailIn(t, dir, env, "--profile", "ci", "--keep-env", "CIRCLE_TOKEN", "--", "env")
	if r.code != 0 || !strings.Contains(r.stdout, "CIRCLE_TOKEN=leaked-CIRCLE_TOKEN\n") {
		t.Errorf("--keep-env CIRCLE_TOKEN: exit %d, env inside:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// judgeCase is one language: how to build the three submissions and run
// them.
type judgeCase struct {
	profile string
	tools   []string
	files   map[string]string // correct.*, loop.*, hog.*
	build   [][]string        // commands run in the directory before the runs
	run     func(name string) []string
}

var judgeCases = []judgeCase{
	{
		profile: "judge-c", tools: []string{"gcc"},
		files: map[string]string{
			"correct.c": "#include <stdio.h>\nint main(void){long a,b; if(scanf(\"%ld %ld\",&a,&b)!=2) return 1; printf(\"%ld\\n\",a+b); return 0;}\n",
			"loop.c":    "int main(void){volatile unsigned long i=0; for(;;) i++;}\n",
			"hog.c":     "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char *p=malloc(1<<20); if(!p) return 3; memset(p,1,1<<20);}}\n",
		},
		build: [][]string{{"gcc", "-O2", "-o", "correct", "correct.c"}, {"gcc", "-O0", "-o", "loop", "loop.c"}, {"gcc", "-O0", "-o", "hog", "hog.c"}},
		run:   func(n string) []string { return []string{"./" + n} },
	},
	{
		profile: "judge-cpp", tools: []string{"g++"},
		files: map[string]string{
			"correct.cpp": "#include <iostream>\nint main(){long a,b; std::cin>>a>>b; std::cout<<a+b<<std::endl;}\n",
			"loop.cpp":    "int main(){volatile unsigned long i=0; for(;;) i++;}\n",
			"hog.cpp":     "#include <vector>\n#include <cstring>\nint main(){std::vector<char*> v; for(;;){char *p=new char[1<<20]; std::memset(p,1,1<<20); v.push_back(p);}}\n",
		},
		build: [][]string{{"g++", "-O2", "-o", "correct", "correct.cpp"}, {"g++", "-O0", "-o", "loop", "loop.cpp"}, {"g++", "-O0", "-o", "hog", "hog.cpp"}},
		run:   func(n string) []string { return []string{"./" + n} },
	},
	{
		profile: "judge-python", tools: []string{"/usr/bin/python3"},
		files: map[string]string{
			"correct.py": "a, b = map(int, input().split())\nprint(a + b)\n",
			"loop.py":    "i = 0\nwhile True:\n    i += 1\n",
			"hog.py":     "v = []\nwhile True:\n    v.append(bytearray(1 << 20))\n",
		},
		run: func(n string) []string { return []string{"python3", n + ".py"} },
	},
	{
		profile: "judge-java", tools: []string{"javac", "java"},
		files: map[string]string{
			"correct.java": "import java.util.*;\npublic class correct { public static void main(String[] x) { Scanner in = new Scanner(System.in); System.out.println(in.nextLong() + in.nextLong()); } }\n",
			"loop.java":    "public class loop { public static void main(String[] x) { long i = 0; while (true) { i++; if (i == -1) break; } System.out.println(i); } }\n",
			"hog.java":     "import java.util.*;\npublic class hog { public static void main(String[] x) { List<long[]> v = new ArrayList<>(); while (true) { long[] a = new long[1 << 17]; Arrays.fill(a, 1); v.add(a); } } }\n",
		},
		// No perf data: the JVM would leave /tmp/hsperfdata_$USER behind.
		build: [][]string{{"javac", "-J-XX:-UsePerfData", "correct.java", "loop.java", "hog.java"}},
		run:   func(n string) []string { return []string{"java", "-Xss64m", n} },
	},
}

// TestJudgeProfiles: for each language, a correct solution gets OK and the
// right answer, an endless loop the time verdict, a memory hog the memory
// verdict, each under the profile's own limits.
func TestJudgeProfiles(t *testing.T) {
	skipRoot(t)
	requireCgroup(t) // the memory verdict needs the sandbox's RAM limit
	requireJudgeIDs(t)
	for _, jc := range judgeCases {
		t.Run(jc.profile, func(t *testing.T) {
			needTool(t, jc.tools...)
			dir := writeTree(t, jc.files)
			if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("20 22\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, b := range jc.build {
				cmd := withUmask(b...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%q: %v\n%s", b, err, out)
				}
			}
			for _, tc := range []struct{ name, status, limit string }{
				{"correct", StatusOK, ""},
				{"loop", StatusTO, "cpu-time"},
				{"hog", StatusML, "memory"},
			} {
				args := []string{"--profile", jc.profile, "--stdin", "in.txt", "--stdout", tc.name + ".out", "--report", tc.name + ".json"}
				if tc.name == "loop" {
					args = append(args, "--cpu-time", "1s") // the verdict is the point, not the profile's 2-5s
				}
				r := jailIn(t, dir, nil, append(append(args, "--"), jc.run(tc.name)...)...)
				b, err := os.ReadFile(filepath.Join(dir, tc.name+".json"))
				if err != nil {
					t.Fatalf("%s: no report: %v (exit %d, %s)", tc.name, err, r.code, r.stderr)
				}
				var rep Report
				if err := json.Unmarshal(b, &rep); err != nil {
					t.Fatal(err)
				}
				if rep.Status != tc.status || tc.limit != "" && rep.Limit != tc.limit {
					t.Errorf("%s: status %s limit %q, want %s %q\nreport: %s\nstderr: %s", tc.name, rep.Status, rep.Limit, tc.status, tc.limit, b, r.stderr)
				}
			}
			if out, _ := os.ReadFile(filepath.Join(dir, "correct.out")); string(out) != "42\n" {
				t.Errorf("correct solution printed %q, want 42", out)
			}
		})
	}
}

// profileExamples returns the commands a built-in profile's header comment
// shows ("#   command" lines), in order.
func profileExamples(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			break // the header comment ends at the first key
		}
		if c, ok := strings.CutPrefix(line, "#   "); ok {
			cmds = append(cmds, strings.TrimSpace(c))
		}
	}
	return cmds
}

// TestProfileExamples runs every example command of every built-in
// profile's header, unchanged, as a new user would: in a directory with
// the files the examples name (a project with a Makefile, a submission of
// each language, in.txt).
func TestProfileExamples(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "make", "gcc", "g++", "javac", "/usr/bin/python3")
	files, err := filepath.Glob("../../profiles/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no profiles: %v", err)
	}
	makefile := "all:\n\techo built > built.txt\ntest:\n\t@echo tests pass\n"
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			if name == "judge-java" {
				requireCgroup(t) // the profile says it needs one
			}
			if strings.HasPrefix(name, "judge-") {
				requireJudgeIDs(t)
			}
			cmds := profileExamples(t, file)
			if len(cmds) == 0 {
				t.Fatalf("%s shows no example command (a \"#   jail ...\" line in its header)", file)
			}
			dir := writeTree(t, map[string]string{
				"Makefile":          makefile,
				"in.txt":            "20 22\n",
				"sol.c":             "#include <stdio.h>\nint main(void){long a,b; if(scanf(\"%ld %ld\",&a,&b)!=2) return 1; printf(\"%ld\\n\",a+b); return 0;}\n",
				"sol.cpp":           "#include <iostream>\nint main(){long a,b; std::cin>>a>>b; std::cout<<a+b<<std::endl;}\n",
				"sol.py":            "a, b = map(int, input().split())\nprint(a + b)\n",
				"Main.java":         "import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner in = new Scanner(System.in); System.out.println(in.nextLong() + in.nextLong()); } }\n",
				"fetch-and-test.sh": "#!/bin/sh\necho fetched and tested\n",
			})
			if err := os.Chmod(filepath.Join(dir, "fetch-and-test.sh"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, "myproject"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "myproject", "Makefile"), []byte(makefile), 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Dir(jailBin) + ":/usr/local/bin:/usr/bin:/bin"
			for _, c := range cmds {
				if strings.Contains(c, "--net user") && !haveUserNet() {
					if os.Getenv("JAIL_TEST_MUST_WORK") == "1" { // scripts/test.sh installs both
						t.Errorf("%s: neither pasta nor slirp4netns is installed", c)
					}
					t.Logf("skipped (neither pasta nor slirp4netns is installed): %s", c)
					continue
				}
				os.Remove(filepath.Join(dir, "out.txt"))
				cmd := withUmask(c)
				cmd.Dir = dir
				// _JAVA_OPTIONS reaches the host's javac only (jail's
				// environment is clean): no /tmp/hsperfdata_$USER left.
				cmd.Env = append(os.Environ(), "PATH="+path, "PWD="+dir, "_JAVA_OPTIONS=-XX:-UsePerfData")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("%s: $ %s: %v\n%s", file, c, err, out)
					continue
				}
				if strings.Contains(c, "--stdout out.txt") {
					if got, _ := os.ReadFile(filepath.Join(dir, "out.txt")); string(got) != "42\n" {
						t.Errorf("$ %s: out.txt = %q, want 42", c, got)
					}
				}
			}
		})
	}
}

// haveUserNet reports whether a tool for --net user is installed.
func haveUserNet() bool {
	for _, n := range []string{"pasta", "slirp4netns"} {
		if _, err := exec.LookPath(n); err == nil {
			return true
		}
	}
	return false
}
