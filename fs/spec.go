// Package fs builds the sandbox's root filesystem.
//
// It works in two halves. Compile runs on the host (stage 0): it turns the
// profile's mount list into a list of operations, resolving every bind
// source against the host, so that a missing path is reported with its
// profile line before any namespace exists. The list is plain data. The
// sandbox's init (stage 2), or a batch's zygote, executes it in C before
// its Go runtime starts (cmd/jail/mounts.c, which receives it in a binary
// layout) and reports a failure as a record that Failure decodes into the
// user's message; the Go code then checks the mount table with Verify.
//
// It also opens the host files of a run, which jail reads and writes
// itself (stdin, stdout, stderr, reports: OpenInput, PrepareOutput), so
// that nothing a sandbox planted at their paths is followed, written
// through or blocked on (hostfile_linux.go).
package fs

// OpKind is what one operation creates.
type OpKind string

const (
	OpBind    OpKind = "bind"    // open_tree(OPEN_TREE_CLONE|AT_RECURSIVE) + mount_setattr + move_mount
	OpTmpfs   OpKind = "tmpfs"   // mount("tmpfs") with size= and mode=
	OpDir     OpKind = "dir"     // mkdir in the new root
	OpSymlink OpKind = "symlink" // symlink in the new root
	OpFile    OpKind = "file"    // a small regular file in the new root
)

// Op is one step of building the new root. Paths in Target are absolute
// paths inside the sandbox; Source of a bind is an absolute host path with
// every symlink already resolved by Compile, and ID the device and inode
// Compile found there: the set-up opens Source without following any
// symlink and mounts it only if it is still that file.
type Op struct {
	Kind    OpKind `json:"kind"`
	Source  string `json:"source,omitempty"`
	Target  string `json:"target"`
	RW      bool   `json:"rw,omitempty"`      // bind: leave writable
	IsDir   bool   `json:"is_dir,omitempty"`  // bind: the source is a directory (mountpoint kind)
	ID      FileID `json:"id,omitzero"`       // bind: the source's device and inode when checked
	Size    uint64 `json:"size,omitempty"`    // tmpfs: size= in bytes
	Mode    uint32 `json:"mode,omitempty"`    // tmpfs, dir, file: permission bits
	Content string `json:"content,omitempty"` // file
	Where   string `json:"where,omitempty"`   // the profile entry it came from, for messages
}

// Spec is everything the set-up needs.
type Spec struct {
	Ops []Op `json:"ops"`
	// DevShmSize caps the tmpfs at /dev/shm.
	DevShmSize uint64 `json:"dev_shm_size"`
	// AbsentGitlinks are the host paths of submodule directories that do
	// not exist, inside writable binds (protect_vcs): GuardVCS looks
	// there after the run. The host's business alone, never sent.
	AbsentGitlinks []string `json:"-"`
}

// RootSize sizes the root tmpfs: room for the profile's files plus slack
// for the directories and symlinks; it is read-only once built.
func RootSize(spec Spec) uint64 {
	size := uint64(1 << 20)
	for _, op := range spec.Ops {
		size += uint64(len(op.Content)) + 4096
	}
	return size
}

// DevPtsMax is the most pseudo-terminals the sandbox's devpts instance
// holds at once (its max= option). Every devpts instance draws on one pool
// of the host's (kernel.pty.max, 4096 by default, of which 1024 are kept
// for the initial instance): without a bound, one sandbox could take the
// whole of it from every other sandbox and container.
const DevPtsMax = 64

// Devices bound from the host into the sandbox's /dev. Device nodes cannot
// be created inside a user namespace, so they are bind mounts of the host's.
var Devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// Parts of /proc the command has no business with. The sandbox's proc is
// its own PID namespace's, but some files still describe the host (kernel
// memory, keys, timers, hardware) or control it; jail hides or freezes them
// as the container runtimes do.
var (
	// ProcReadOnly are made read-only (bind-mounted onto themselves).
	ProcReadOnly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	// ProcMaskedFiles get /dev/null mounted over them.
	ProcMaskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/latency_stats",
		"/proc/sched_debug", "/proc/timer_list", "/proc/timer_stats"}
	// ProcMaskedDirs get an empty read-only tmpfs over them.
	ProcMaskedDirs = []string{"/proc/acpi", "/proc/scsi"}
)
