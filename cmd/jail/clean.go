package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/userns"
)

const cleanUsage = `usage: jail clean [--] PATH...

Remove each PATH, and everything below it, like rm -rf, including the files
a sandbox left there under ids of your /etc/subuid range, which you cannot
remove yourself: jail removes them from a user namespace where those ids
are mapped (as a sandbox's are).

What a sandbox left is hostile, so jail clean never follows a symlink (a
link is removed as a link; a directory on the way to PATH must not be one),
never enters another mount, never opens a FIFO, and acts on nothing but
the PATHs named. Stop the runs that write there first.
`

// cleanArg is the hidden sub-command of the process that removes the trees
// inside the user namespace.
const cleanArg = "__clean"

// cleanTarget is a PATH to remove: its parent directory, opened once here,
// and its last component.
type cleanTarget struct {
	parent  *os.File
	name    string
	display string
}

// cleanMain is `jail clean PATH...`.
func cleanMain(args []string, stdout, stderr io.Writer) int {
	var paths []string
	for i, a := range args {
		if a == "--" {
			paths = append(paths, args[i+1:]...)
			break
		}
		if a == "-h" || a == "--help" {
			fmt.Fprint(stdout, cleanUsage)
			return 0
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			fmt.Fprintf(stderr, "jail clean: unknown option %q (a PATH that starts with - goes after --)\n%s", a, cleanUsage)
			return exitUsage
		}
		paths = append(paths, a)
	}
	if len(paths) == 0 {
		fmt.Fprintf(stderr, "jail clean: no PATH given\n%s", cleanUsage)
		return exitUsage
	}
	failed := false
	var targets []cleanTarget
	for _, p := range paths {
		t, err := openCleanTarget(p)
		if err != nil {
			fmt.Fprintf(stderr, "jail clean: %v\n", err)
			failed = true
			continue
		}
		defer t.parent.Close()
		targets = append(targets, t)
	}
	if len(targets) > 0 {
		if err := removeTargets(targets, stderr); err != nil {
			fmt.Fprintf(stderr, "jail clean: %v\n", err)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// openCleanTarget opens the directory that holds path without following
// any symlink on the way (a run could have put one there), and checks that
// path is there.
func openCleanTarget(path string) (cleanTarget, error) {
	p := strings.TrimRight(path, "/")
	dir, name := ".", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i], p[i+1:]
		if dir == "" {
			dir = "/"
		}
	}
	if name == "" || name == "." || name == ".." {
		return cleanTarget{}, fmt.Errorf("%s: refusing to remove %q: name what is below it", path, path)
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err == unix.ELOOP {
		return cleanTarget{}, fmt.Errorf("%s: a directory on the way is a symlink; refusing to follow it (what a run left may be a link: name the path without links)", path)
	}
	if err != nil {
		return cleanTarget{}, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(fd)
		return cleanTarget{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return cleanTarget{parent: os.NewFile(uintptr(fd), dir), name: name, display: path}, nil
}

// removeTargets removes the targets: here when the caller is root, else
// in a child in a new user namespace mapped as a sandbox's, which holds
// the capabilities that override file permissions there (for files of
// every mapped id, and only those).
func removeTargets(targets []cleanTarget, stderr io.Writer) error {
	if os.Geteuid() == 0 {
		var errs []error
		for _, t := range targets {
			errs = append(errs, fs.RemoveAt(int(t.parent.Fd()), t.name, t.display))
		}
		return errors.Join(errs...)
	}
	host, err := userns.LookupHost()
	if err != nil {
		return err
	}
	mapping := userns.Build(host)
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer w.Close()
	args := []string{"jail", cleanArg}
	files := []*os.File{r} // fd 3: the go-ahead once the ids are mapped
	for _, t := range targets {
		args = append(args, t.name, t.display)
		files = append(files, t.parent) // fds 4, 5, ...
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe", Args: args, Env: []string{},
		Stdout: stderr, Stderr: stderr, ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER,
			// Exec'd before its ids are mapped, the child would keep no
			// capability: these stay, as ambient ones. Each acts only on
			// files whose owner and group are mapped (the kernel's
			// privileged_wrt_inode_uidgid).
			AmbientCaps: []uintptr{unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER},
			Pdeathsig:   unix.SIGKILL,
		},
	}
	err = cmd.Start()
	r.Close()
	if err != nil {
		return cloneError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), idmapTimeout)
	err = userns.Map(ctx, cmd.Process.Pid, mapping)
	cancel()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("map user ids: %w", err)
	}
	if _, err := w.Write([]byte{1}); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("clean: %w", err)
	}
	w.Close()
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return errors.New("some files were not removed (see above)")
		}
		return err
	}
	return nil
}

// cleanChild is the process in the user namespace: once stage 0 says the
// ids are mapped, it removes each target (name and path for messages in
// its arguments, parent directories from fd 4 on).
func cleanChild() int {
	sync := os.NewFile(3, "sync")
	if n, _ := sync.Read(make([]byte, 1)); n != 1 {
		return 2 // the caller is gone, or could not map the ids
	}
	sync.Close()
	// A directory open per level of the tree: a deep one needs many.
	var nofile unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile) == nil && nofile.Cur < nofile.Max {
		nofile.Cur = nofile.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &nofile)
	}
	args := os.Args[2:]
	code := 0
	for i := 0; i+1 < len(args); i += 2 {
		if err := fs.RemoveAt(4+i/2, args[i], args[i+1]); err != nil {
			fmt.Fprintf(os.Stderr, "jail clean: %v\n", err)
			code = 1
		}
	}
	return code
}
