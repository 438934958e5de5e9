package fs

// WritableBindOf returns the writable bind of s through which the sandbox
// could change a file it was given the identities of (a profile file's
// record, profile.SourceFile.Read: the file read, and every directory its
// path was resolved through, ReadProfile): a bind whose source is the
// file itself, or one of those directories. Binds are told apart by
// device and inode (the ID Compile recorded), not by their names, so a
// second name for a directory (a symlink, a bind mount on the host)
// cannot hide it, and what is judged is what was read, not what a second
// lookup of the path finds. found is false when none is.
func (s Spec) WritableBindOf(ids []FileID) (op Op, found bool) {
	for _, id := range ids {
		for _, o := range s.Ops {
			if o.Kind == OpBind && o.RW && o.ID == id {
				return o, true
			}
		}
	}
	return Op{}, false
}
