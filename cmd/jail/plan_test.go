package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// helperMapping maps 65537 ids, as with one useradd-style sub-id range.
func helperMapping() userns.Mapping {
	ids := []userns.IDMap{{Inside: 0, Outside: 1000, Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}}
	return userns.Mapping{UIDs: ids, GIDs: ids, Helper: true}
}

// singleMapping is the fallback: only 0 is mapped and setgroups is denied.
func singleMapping() userns.Mapping {
	ids := []userns.IDMap{{Inside: 0, Outside: 1000, Count: 1}}
	return userns.Mapping{UIDs: ids, GIDs: ids, SetgroupsDeny: true, Warning: "single id"}
}

func TestBuildPlan(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(p *profile.Profile)
		m       userns.Mapping
		argv    []string
		environ []string
		wantErr string // substring; "" for success
		errKey  string // the *profile.Error's Key, if any
		check   func(t *testing.T, pl *Plan)
	}{
		{
			name:    "no argv",
			m:       helperMapping(),
			wantErr: "no command given",
		},
		{
			name:    "empty argv",
			m:       helperMapping(),
			argv:    []string{},
			wantErr: "no command given",
		},
		{
			name:    "uid above MaxUID",
			edit:    func(p *profile.Profile) { p.User.UID = 1 },
			m:       singleMapping(),
			argv:    []string{"true"},
			wantErr: "uid 1 is not mapped into the sandbox (mapped: 0..0); single id; or run the command as yourself with --uid 0 --gid 0",
			errKey:  "user.uid",
		},
		{
			// A judge profile on a host without a sub-uid range: refused,
			// with the fallback's fix, never run as the caller.
			name:    "judge uid without a range",
			edit:    func(p *profile.Profile) { p.User.UID, p.User.GID = 1000, 1000 },
			m:       singleMapping(),
			argv:    []string{"./sol"},
			wantErr: "uid 1000 is not mapped into the sandbox (mapped: 0..0); single id; or run the command as yourself with --uid 0 --gid 0",
			errKey:  "user.uid",
		},
		{
			name:    "uid far above MaxUID",
			edit:    func(p *profile.Profile) { p.User.UID = 65537 },
			m:       helperMapping(),
			argv:    []string{"true"},
			wantErr: "uid 65537 is not mapped into the sandbox (mapped: 0..65536)",
			errKey:  "user.uid",
		},
		{
			name:    "gid above MaxGID",
			edit:    func(p *profile.Profile) { p.User.GID = 70000 },
			m:       helperMapping(),
			argv:    []string{"true"},
			wantErr: "gid 70000 is not mapped",
			errKey:  "user.gid",
		},
		{
			name:    "missing bind source",
			edit:    func(p *profile.Profile) { p.Mounts[0].Source = "/nonexistent/jail-test" },
			m:       helperMapping(),
			argv:    []string{"true"},
			wantErr: "mount[0].source: /nonexistent/jail-test: no such file or directory",
			errKey:  "mount[0].source",
		},
		{
			name: "highest mapped uid is allowed",
			edit: func(p *profile.Profile) { p.User.UID, p.User.GID = 65536, 65536 },
			m:    helperMapping(),
			argv: []string{"id"},
			check: func(t *testing.T, pl *Plan) {
				if pl.Exec.UID != 65536 || pl.Exec.GID != 65536 {
					t.Errorf("Exec uid/gid = %d/%d", pl.Exec.UID, pl.Exec.GID)
				}
			},
		},
		{
			name: "environment: keep and set only, sorted, set wins",
			edit: func(p *profile.Profile) {
				p.Env.Keep = []string{"TERM", "LANG", "HOME", "ABSENT"}
				p.Env.Set = map[string]string{"HOME": "/tmp", "PATH": "/usr/bin", "A": "1"}
			},
			m:       helperMapping(),
			argv:    []string{"env"},
			environ: []string{"SECRET=x", "TERM=xterm", "HOME=/home/u", "LANG=C.UTF-8", "NOEQUALS", "PATH=/home/u/bin"},
			check: func(t *testing.T, pl *Plan) {
				want := []string{"A=1", "HOME=/tmp", "LANG=C.UTF-8", "PATH=/usr/bin", "TERM=xterm"}
				if !reflect.DeepEqual(pl.Exec.Env, want) {
					t.Errorf("Env = %q, want %q", pl.Exec.Env, want)
				}
			},
		},
		{
			name: "environment: value with '=' kept whole",
			edit: func(p *profile.Profile) {
				p.Env.Keep = []string{"OPTS"}
				p.Env.Set = map[string]string{}
			},
			m:       helperMapping(),
			argv:    []string{"env"},
			environ: []string{"OPTS=a=b=c"},
			check: func(t *testing.T, pl *Plan) {
				if want := []string{"OPTS=a=b=c"}; !reflect.DeepEqual(pl.Exec.Env, want) {
					t.Errorf("Env = %q, want %q", pl.Exec.Env, want)
				}
			},
		},
		{
			name:    "environment: default profile drops the caller's variables",
			m:       helperMapping(),
			argv:    []string{"env"},
			environ: []string{"SECRET=x", "TERM=dumb", "PATH=/evil"},
			check: func(t *testing.T, pl *Plan) {
				for _, kv := range pl.Exec.Env {
					if strings.HasPrefix(kv, "SECRET=") || kv == "PATH=/evil" {
						t.Errorf("Env has %q", kv)
					}
				}
				if !hasString(pl.Exec.Env, "TERM=dumb") {
					t.Errorf("Env = %q, want TERM=dumb kept", pl.Exec.Env)
				}
			},
		},
		{
			name: "setgroups allowed with helper mapping",
			m:    helperMapping(),
			argv: []string{"true"},
			check: func(t *testing.T, pl *Plan) {
				if !pl.Exec.Setgroups {
					t.Error("Setgroups = false with SetgroupsDeny = false")
				}
			},
		},
		{
			name: "setgroups denied with single-id mapping",
			m:    singleMapping(),
			argv: []string{"true"},
			check: func(t *testing.T, pl *Plan) {
				if pl.Exec.Setgroups {
					t.Error("Setgroups = true with SetgroupsDeny = true")
				}
			},
		},
		{
			name: "plan fields",
			edit: func(p *profile.Profile) { p.Hostname, p.Cwd = "box", "/tmp" },
			m:    helperMapping(),
			argv: []string{"sh", "-c", "echo hi"},
			check: func(t *testing.T, pl *Plan) {
				if pl.Version != planVersion {
					t.Errorf("Version = %d", pl.Version)
				}
				if pl.Hostname != "box" || pl.Exec.Cwd != "/tmp" {
					t.Errorf("Hostname %q Cwd %q", pl.Hostname, pl.Exec.Cwd)
				}
				if want := []string{"sh", "-c", "echo hi"}; !reflect.DeepEqual(pl.Exec.Argv, want) {
					t.Errorf("Argv = %q, want %q", pl.Exec.Argv, want)
				}
				if !reflect.DeepEqual(pl.IDMap, helperMapping()) {
					t.Errorf("IDMap = %+v", pl.IDMap)
				}
				if len(pl.FS.Ops) == 0 || pl.FS.Ops[0].Target != "/usr" {
					t.Errorf("FS.Ops = %+v, want /usr first", pl.FS.Ops)
				}
			},
		},
		{
			name: "clone flags",
			m:    helperMapping(),
			argv: []string{"true"},
			check: func(t *testing.T, pl *Plan) {
				for _, f := range []struct {
					name string
					bit  uintptr
				}{
					{"CLONE_NEWUSER", unix.CLONE_NEWUSER}, {"CLONE_NEWNS", unix.CLONE_NEWNS},
					{"CLONE_NEWPID", unix.CLONE_NEWPID}, {"CLONE_NEWNET", unix.CLONE_NEWNET},
					{"CLONE_NEWIPC", unix.CLONE_NEWIPC}, {"CLONE_NEWUTS", unix.CLONE_NEWUTS},
				} {
					if pl.CloneFlags&f.bit == 0 {
						t.Errorf("CloneFlags %#x lacks %s", pl.CloneFlags, f.name)
					}
				}
				if pl.CloneFlags&unix.CLONE_NEWCGROUP != 0 {
					t.Errorf("CloneFlags %#x has CLONE_NEWCGROUP (stage 2 adds it for the command)", pl.CloneFlags)
				}
				// Stage 2 makes the time namespace (see Plan.CloneFlags).
				if pl.CloneFlags&unix.CLONE_NEWTIME != 0 {
					t.Errorf("CloneFlags %#x has CLONE_NEWTIME (stage 2 makes it, with its offsets)", pl.CloneFlags)
				}
				if pl.Net != profile.NetNone {
					t.Errorf("Net = %q, want %q by default", pl.Net, profile.NetNone)
				}
			},
		},
		{
			name: "network host",
			edit: func(p *profile.Profile) { p.Network.Mode = profile.NetHost },
			m:    helperMapping(),
			argv: []string{"true"},
			check: func(t *testing.T, pl *Plan) {
				if pl.CloneFlags&unix.CLONE_NEWNET != 0 || pl.CloneFlags&unix.CLONE_NEWUSER == 0 {
					t.Errorf("CloneFlags %#x: want no CLONE_NEWNET, the other namespaces", pl.CloneFlags)
				}
				if pl.Net != profile.NetHost {
					t.Errorf("Net = %q", pl.Net)
				}
			},
		},
		{
			name: "network user and time offsets",
			edit: func(p *profile.Profile) {
				p.Network.Mode = profile.NetUser
				p.Time.Monotonic, p.Time.Boottime = profile.Offset(time.Hour), profile.Offset(-time.Second)
			},
			m:    helperMapping(),
			argv: []string{"true"},
			check: func(t *testing.T, pl *Plan) {
				if pl.CloneFlags&unix.CLONE_NEWNET == 0 || pl.Net != profile.NetUser {
					t.Errorf("CloneFlags %#x, Net %q: want a new network namespace, user", pl.CloneFlags, pl.Net)
				}
				if pl.Time.Monotonic != profile.Offset(time.Hour) || pl.Time.Boottime != profile.Offset(-time.Second) {
					t.Errorf("Time = %+v", pl.Time)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := profile.Default()
			if tc.edit != nil {
				tc.edit(p)
			}
			pl, err := buildPlan(p, tc.m, tc.argv, tc.environ)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("buildPlan: no error, want %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				var pe *profile.Error
				if tc.errKey != "" {
					if !errors.As(err, &pe) {
						t.Fatalf("error %T is not a *profile.Error", err)
					}
					if pe.Key != tc.errKey || pe.File != "builtin:default" {
						t.Errorf("*profile.Error Key %q File %q, want %q builtin:default", pe.Key, pe.File, tc.errKey)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("buildPlan: %v", err)
			}
			tc.check(t, pl)
		})
	}
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr error  // sentinel, checked with errors.Is
		errText string // substring of another error
	}{
		{
			name: "no arguments",
			args: nil,
			want: options{},
		},
		{
			name: "profile then --",
			args: []string{"--profile", "x", "--", "a", "b"},
			want: options{profile: "x", argv: []string{"a", "b"}},
		},
		{
			name: "-p= stops at the first non-option",
			args: []string{"-p=x", "a", "-b"},
			want: options{profile: "x", argv: []string{"a", "-b"}},
		},
		{
			name: "--profile=value",
			args: []string{"--profile=dev.toml", "make", "--help"},
			want: options{profile: "dev.toml", argv: []string{"make", "--help"}},
		},
		{
			name: "-p value with --plan and -q",
			args: []string{"-q", "-p", "dev", "--plan", "ls", "-l"},
			want: options{profile: "dev", plan: true, quiet: true, argv: []string{"ls", "-l"}},
		},
		{
			name: "-- protects an option-like command",
			args: []string{"--", "--help"},
			want: options{argv: []string{"--help"}},
		},
		{
			name: "only --",
			args: []string{"--"},
			want: options{argv: []string{}},
		},
		{
			name: "profile value that looks like an option",
			args: []string{"-p", "--quiet", "true"},
			want: options{profile: "--quiet", argv: []string{"true"}},
		},
		{
			name:    "--help",
			args:    []string{"--help"},
			wantErr: errHelp,
		},
		{
			name:    "-h after an option",
			args:    []string{"-q", "-h", "ls"},
			wantErr: errHelp,
		},
		{
			name:    "--version",
			args:    []string{"--version"},
			wantErr: errVersion,
		},
		{
			name:    "unknown option",
			args:    []string{"--frobnicate", "ls"},
			errText: `unknown option "--frobnicate"`,
		},
		{
			name:    "unknown short option",
			args:    []string{"-x"},
			errText: `unknown option "-x"`,
		},
		{
			name:    "--profile without value",
			args:    []string{"--profile"},
			errText: "--profile needs a value",
		},
		{
			name:    "-p without value",
			args:    []string{"-q", "-p"},
			errText: "-p needs a value",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("parseArgs(%q) error = %v, want %v", tc.args, err, tc.wantErr)
				}
				return
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("parseArgs(%q) error = %v, want %q", tc.args, err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestResolverPerNetworkMode(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{profile.NetNone, ""},
		{profile.NetHost, "bind /etc/resolv.conf"},
		{profile.NetUser, "file nameserver " + netDNS},
	} {
		p := profile.Default()
		p.Network.Mode = tc.mode
		q := withResolver(p)
		got := ""
		for _, m := range q.Mounts {
			if m.Target == "/etc/resolv.conf" {
				got = string(m.Type) + " " + strings.TrimSpace(m.Source+m.Content)
			}
		}
		if got != tc.want {
			t.Errorf("mode %s: resolv.conf %q, want %q", tc.mode, got, tc.want)
		}
		if len(p.Mounts) != len(profile.Default().Mounts) {
			t.Errorf("mode %s: the profile itself was changed", tc.mode)
		}
	}
	// A profile's own resolv.conf wins.
	p := profile.Default()
	p.Network.Mode = profile.NetUser
	p.Mounts = append(p.Mounts, profile.Mount{Type: profile.File, Target: "/etc/resolv.conf", Content: "nameserver 192.0.2.53\n"})
	if q := withResolver(p); len(q.Mounts) != len(p.Mounts) {
		t.Errorf("a resolv.conf was added over the profile's own")
	}
}
