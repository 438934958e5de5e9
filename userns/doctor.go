package userns

// FindHelper finds newuidmap or newgidmap as Map does: in PATH, then in
// /usr/bin. The error names the package that provides it.
func FindHelper(name string) (string, error) { return findHelper(name) }
