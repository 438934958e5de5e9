package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jail-sandbox/jail/profiles"
)

// FuzzParse checks that Parse never panics, that a profile it accepts
// validates, and that a rejected one comes back with *Error values.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.toml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	b, err := profiles.FS.ReadFile("default.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("[[mount]]\ntype = \"tmpfs\"\ntarget = \"/t\"\nsize = \"1x\"\nextra = 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(strings.NewReader(src), "f.toml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), `profile "f.toml": `) {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a profile that does not validate: %v", err)
		}
	})
}
