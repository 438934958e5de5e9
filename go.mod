module github.com/jail-sandbox/jail

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/moby/sys/mountinfo v0.7.3
	golang.org/x/sys v0.49.0
)

require (
	github.com/seccomp/libseccomp-golang v0.11.1 // indirect
	golang.org/x/net v0.62.0 // indirect
)
