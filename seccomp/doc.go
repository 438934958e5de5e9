// Package seccomp builds and installs jail's system-call filter.
//
// A profile asks for a [Spec]: a named base policy ("default", "judge" or
// "none") with the profile's own rules on top. The work is split the way the
// sandbox's stages are:
//
//   - [Spec.Validate] (no cgo, no syscalls) checks actions, errno names,
//     argument comparisons, base and architecture names, so that a profile is
//     rejected with a field path before anything runs.
//   - [Compile] (stage 0, the parent; needs cgo and libseccomp) turns the
//     spec into raw classic BPF, a [Program]. Unknown syscall names fail here,
//     before any namespace exists.
//   - [Load] (no cgo) installs the Program with the raw seccomp(2) system
//     call. jail's command process does the same in C (cmd/jail/spawn.c), as
//     the very last step before execve.
//
// The BPF crosses the process boundary as plain bytes, so the sandbox never
// runs libseccomp.
//
// What each base policy denies and why is documented next to its rules in
// bases.go; Bases lists their names.
package seccomp
