package main

import (
	"fmt"
	"io"

	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/profile"
)

// guardVCS opens, before the sandbox starts, the places where git and hg
// would find a repository that the run creates (fs.GuardVCS), when the
// profile protects the version-control metadata; nil when it does not.
func guardVCS(p *profile.Profile, plan *Plan) (*fs.VCSGuard, error) {
	if !p.ProtectVCS {
		return nil, nil
	}
	return fs.GuardVCS(plan.FS, plan.Exec.Cwd)
}

// sweepVCS, once the sandbox's last process is gone, moves away what the
// run left there and says so on stderr (prog is "jail" or "jail batch").
func sweepVCS(g *fs.VCSGuard, stderr io.Writer, prog string) {
	if g == nil {
		return
	}
	defer g.Close()
	for _, m := range g.Sweep() {
		if m.Err != nil {
			fmt.Fprintf(stderr, "%s: warning: protect_vcs: %v: look at %s before you run git or hg there\n", prog, m.Err, m.Path)
			continue
		}
		fmt.Fprintf(stderr, "%s: warning: protect_vcs: the run left %s, %s, which git or hg would use (and run what it configures) "+
			"when you work there: moved to %s; look at it before you use it. A step that must create a repository there "+
			"runs with protect_vcs = false (docs/profile.md)\n", prog, m.Path, m.Why, m.To)
	}
}
