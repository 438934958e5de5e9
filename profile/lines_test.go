package profile

import (
	"reflect"
	"testing"
)

func TestScanLines(t *testing.T) {
	src := `# comment [not a table]
name = "x" # trailing
"quoted.key" = 'lit'
[user]
uid = 1
[env]
keep = [
  "A", # comment ]
  "B",
]
set.PATH = "/bin"
[[mount]]
content = """
target = "fake"
[[mount]]
"""
[[ mount ]]
target = '''
x'''
size = { a = 1,
  b = 2 }
mode = 0o755
[mount.extra]
k = "v"
[[mount]]
`
	want := lineIndex{
		"name":             2,
		`"quoted.key"`:     3,
		"user":             4,
		"user.uid":         5,
		"env":              6,
		"env.keep":         7,
		"env.set.PATH":     11,
		"mount[0]":         12,
		"mount[0].content": 13,
		"mount[1]":         17,
		"mount[1].target":  18,
		"mount[1].size":    20,
		"mount[1].mode":    22,
		"mount[1].extra":   23,
		"mount[1].extra.k": 24,
		"mount[2]":         25,
	}
	got := scanLines(src)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	for _, tc := range []struct {
		path []string
		want int
	}{
		{[]string{"mount[1]", "size", "a"}, 20},
		{[]string{"mount[2]", "target"}, 25},
		{[]string{"mount[9]", "target"}, 0},
		{[]string{"cwd"}, 0},
	} {
		if got := got.find(tc.path...); got != tc.want {
			t.Errorf("find(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

func TestScanLinesTerminates(t *testing.T) {
	for _, src := range []string{"", "[", "[[", "a", "a =", `a = "`, `a = """`, "= 1\n", "a.\n", "\"a", "'", "a = [\n", "\x00\n[x]"} {
		scanLines(src)
	}
}
