package main

import (
	"errors"
	"strings"
)

// The command's process is started by spawnCommand (spawn.go, spawn.c);
// these are what its errors and its PATH lookup use.

var errCommandNotFound = errors.New("command not found")

// envValue is the value of key in env, "" when it is not set.
func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
