package userns

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSubID(t *testing.T) {
	tests := []struct {
		name    string
		content string
		uid     int
		user    string
		want    []Range
		wantErr string // substring; "" means no error
	}{
		{name: "by name", content: "alice:100000:65536\n", uid: 1000, user: "alice", want: []Range{{100000, 65536}}},
		{name: "by uid", content: "1000:100000:65536\n", uid: 1000, user: "alice", want: []Range{{100000, 65536}}},
		{name: "by uid without name", content: "1000:100000:65536", uid: 1000, user: "", want: []Range{{100000, 65536}}},
		{name: "no trailing newline", content: "alice:100000:65536", uid: 1000, user: "alice", want: []Range{{100000, 65536}}},
		{
			name:    "several ranges in file order",
			content: "bob:165536:65536\nalice:300000:10\n1000:100000:65536\nalice:200000:5\n",
			uid:     1000, user: "alice",
			want: []Range{{300000, 10}, {100000, 65536}, {200000, 5}},
		},
		{
			name:    "comments and blank lines",
			content: "# subordinate ids\n\n   \n  # alice:1:1\nalice:100000:65536\n\n",
			uid:     1000, user: "alice",
			want: []Range{{100000, 65536}},
		},
		{name: "surrounding spaces", content: "  alice:100000:65536  \r\n", uid: 1000, user: "alice", want: []Range{{100000, 65536}}},
		{
			name:    "other users' malformed lines ignored",
			content: "bob:xyz:65536\ncarol\n1001:1:2:3\n:1:2\nalice:100000:65536\n",
			uid:     1000, user: "alice",
			want: []Range{{100000, 65536}},
		},
		{name: "prefix of name does not match", content: "alic:1:2\nalice2:3:4\n10000:5:6\n", uid: 1000, user: "alice", want: nil},
		{name: "no entry", content: "bob:165536:65536\n", uid: 1000, user: "alice", want: nil},
		{name: "empty", content: "", uid: 1000, user: "alice", want: nil},
		{name: "zero count dropped", content: "alice:100000:0\nalice:200000:1\n", uid: 1000, user: "alice", want: []Range{{200000, 1}}},
		{name: "own bad start", content: "bob:1:1\nalice:abc:65536\n", uid: 1000, user: "alice", wantErr: `line 2: "alice:abc:65536": invalid start "abc"`},
		{name: "own bad count", content: "\n\n1000:100000:-1\n", uid: 1000, user: "alice", wantErr: `line 3: "1000:100000:-1": invalid count "-1"`},
		{name: "own missing field", content: "alice:100000\n", uid: 1000, user: "alice", wantErr: `line 1: "alice:100000": want name:start:count`},
		{name: "own extra field", content: "alice:1:2:3\n", uid: 1000, user: "alice", wantErr: "line 1: "},
		{name: "own name only", content: "# x\nalice\n", uid: 1000, user: "alice", wantErr: "line 2: "},
		{name: "start above 32 bits", content: "alice:4294967296:1\n", uid: 1000, user: "alice", wantErr: "invalid start"},
		{name: "count overflow", content: "alice:4294967295:2\n", uid: 1000, user: "alice", wantErr: "line 1: \"alice:4294967295:2\": range 4294967295+2 goes past the highest id 4294967294"},
		{name: "count reaching 2^32", content: "alice:4294901760:65536\n", uid: 1000, user: "alice", wantErr: "goes past the highest id"},
		{name: "last valid id", content: "alice:4294901759:65536\n", uid: 1000, user: "alice", want: []Range{{4294901759, 65536}}},
		{name: "negative uid matches by name only", content: "-1:1:1\nalice:2:2\n", uid: -1, user: "alice", want: []Range{{2, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSubID(strings.NewReader(tc.content), tc.uid, tc.user)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseSubIDLongLine(t *testing.T) {
	// A line longer than bufio.Scanner's 64 KiB limit, of another user, must not hide ours.
	content := "bob:" + strings.Repeat("9", 1<<17) + ":1\nalice:100000:65536\n"
	got, err := ParseSubID(strings.NewReader(content), 1000, "alice")
	if err != nil || !reflect.DeepEqual(got, []Range{{100000, 65536}}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func FuzzParseSubID(f *testing.F) {
	for _, s := range []string{
		"alice:100000:65536\n",
		"1000:100000:65536\nalice:200000:0\n# c\n\n",
		"alice:4294967295:1\n",
		"alice:1:2:3\nbob\n",
		"alice : 5 : 6 \r\n",
	} {
		f.Add(s, 1000, "alice")
	}
	f.Fuzz(func(t *testing.T, content string, uid int, user string) {
		rs, err := ParseSubID(strings.NewReader(content), uid, user)
		if err != nil {
			if rs != nil {
				t.Fatalf("ranges %v returned with error %v", rs, err)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without line number: %v", err)
			}
			return
		}
		for _, r := range rs {
			if r.Count == 0 {
				t.Fatalf("zero-count range %v", r)
			}
			if uint64(r.Start)+uint64(r.Count)-1 > maxID {
				t.Fatalf("range %v overflows", r)
			}
		}
	})
}
