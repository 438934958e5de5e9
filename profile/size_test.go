package profile

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  bool
	}{
		{"512", 512, false},
		{"0", 0, false},
		{"512b", 512, false},
		{"64k", 64 << 10, false},
		{"64K", 64 << 10, false},
		{"64KB", 64 << 10, false},
		{"64KiB", 64 << 10, false},
		{"64kib", 64 << 10, false},
		{"10M", 10 << 20, false},
		{"10MiB", 10 << 20, false},
		{"10mb", 10 << 20, false},
		{"1G", 1 << 30, false},
		{"1GiB", 1 << 30, false},
		{"2T", 2 << 40, false},
		{" 64 MiB ", 64 << 20, false},
		{"18446744073709551615", 1<<64 - 1, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"1.5G", 0, true},
		{"10X", 0, true},
		{"10 M B", 0, true},
		{"18446744073709551616", 0, true},
		{"16777216T", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.err {
				if err == nil {
					t.Errorf("ParseSize(%q) = %d, want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	for _, tc := range []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1000, "1000"},
		{1024, "1KiB"},
		{1536, "1536"},
		{64 << 20, "64MiB"},
		{1 << 30, "1GiB"},
		{3 << 40, "3TiB"},
		{1<<30 + 1<<20, "1025MiB"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("Size(%d).String() = %q", uint64(tc.in), got)
			}
			if back, err := ParseSize(tc.want); err != nil || back != tc.in {
				t.Errorf("ParseSize(%q) = %d, %v", tc.want, back, err)
			}
		})
	}
}

func TestSizeTOML(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want Size
		err  string
	}{
		{`4096`, 4096, ""},
		{`"1M"`, 1 << 20, ""},
		{`true`, 0, `line 4: mount[0].size: invalid size: want an integer`},
		{`"lots"`, 0, `line 4: mount[0].size: invalid size "lots"`},
	} {
		t.Run(tc.val, func(t *testing.T) {
			p, err := parse(t, "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/t\"\nsize = "+tc.val+"\n")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || p.Mounts[0].Size != tc.want {
				t.Fatalf("got %v, %v", p, err)
			}
		})
	}
}
