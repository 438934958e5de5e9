// Package seccomp is where jail's system-call filters live: rules from the
// profile compiled with libseccomp in the parent, loaded as the last step
// before the command's execve.
//
// It is empty on purpose: jail loads no seccomp filter yet (it already sets
// no_new_privs and drops every capability before execve), and its README
// says so. Nothing here may claim a filter it does not load.
package seccomp
