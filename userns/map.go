package userns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Map writes the maps of process pid (the stage-1 child, which waits until they are written).
//
// Helper: runs newgidmap and newuidmap concurrently and waits for both; each failure reads
// `newuidmap 1234 0 1000 1 1 100000 65536: <combined output>: exit status 1` and wraps the exec error.
// ctx bounds the helper runs.
//
// Otherwise the parent writes /proc/PID/setgroups ("deny" if SetgroupsDeny), then gid_map, then uid_map.
// Order matters: an unprivileged writer may write gid_map only after setgroups is "deny"
// (user_namespaces(7), since Linux 3.19, CVE-2014-8989).
func Map(ctx context.Context, pid int, m Mapping) error {
	if len(m.UIDs) == 0 || len(m.GIDs) == 0 {
		return errors.New("userns: empty uid or gid mapping")
	}
	if m.Helper {
		uidTool, err := findHelper("newuidmap")
		if err != nil {
			return err
		}
		gidTool, err := findHelper("newgidmap")
		if err != nil {
			return err
		}
		return mapWithHelpers(ctx, pid, m, uidTool, gidTool)
	}
	return writeMaps(ctx, "/proc/"+strconv.Itoa(pid), m)
}

// mapWithHelpers runs the two helpers (paths injected for tests) concurrently.
func mapWithHelpers(ctx context.Context, pid int, m Mapping, uidTool, gidTool string) error {
	uidArgs, gidArgs := m.Args(pid)
	var uidErr, gidErr error
	var wg sync.WaitGroup
	wg.Go(func() { gidErr = runHelper(ctx, "newgidmap", gidTool, gidArgs) })
	wg.Go(func() { uidErr = runHelper(ctx, "newuidmap", uidTool, uidArgs) })
	wg.Wait()
	return errors.Join(gidErr, uidErr)
}

func runHelper(ctx context.Context, name, path string, args []string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	argv := name + " " + strings.Join(args, " ")
	if msg := string(bytes.TrimSpace(out)); msg != "" {
		return fmt.Errorf("%s: %s: %w", argv, msg, err)
	}
	return fmt.Errorf("%s: %w", argv, err)
}

// writeMaps writes setgroups, gid_map and uid_map under procDir (/proc/PID).
func writeMaps(ctx context.Context, procDir string, m Mapping) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.SetgroupsDeny {
		if err := writeProcFile(procDir+"/setgroups", []byte("deny")); err != nil {
			return err
		}
	}
	if err := writeProcFile(procDir+"/gid_map", mapFile(m.GIDs)); err != nil {
		return err
	}
	return writeProcFile(procDir+"/uid_map", mapFile(m.UIDs))
}

// writeProcFile writes data with one write(2), as uid_map/gid_map require. Errors are *os.PathError
// naming the file.
func writeProcFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
