package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// Batch mode: `jail batch [--profile P] [OPTIONS]` reads one run request
// per line of its standard input (JSON) and writes one report per line to
// its standard output, in order. The profile, the options, the user
// mapping and the compiled seccomp filter are prepared once; every run
// still gets a sandbox of its own: new namespaces, a new root, its own
// cgroup with its own limits, its own accounting and report.
//
// A request:
//
//	{"id": "t1", "argv": ["./sol"], "stdin": "in.txt", "stdout": "out.txt",
//	 "stderr": "err.txt", "limits": {"cpu-time": "1s", "memory": "64MiB"},
//	 "report": "r.json", "meta": "meta.txt"}
//
// Only argv is required. stdin, stdout and stderr are files opened with
// the caller's rights (relative to jail's working directory), /dev/null
// when left out: the batch's own streams never reach a command unless a
// request names one of jail's descriptors (not 0 or 1). Like a
// single run's, they and report and meta follow no link a sandbox could
// have made, and outputs are new files (fs.OpenInput, fs.Output). limits
// takes the limit options by name, without "--". The answer is the report
// of `--report` with the request's id, on one line.

// batchRequest is one line of a batch's input.
type batchRequest struct {
	ID     string            `json:"id"`
	Argv   []string          `json:"argv"`
	Stdin  string            `json:"stdin"`
	Stdout string            `json:"stdout"`
	Stderr string            `json:"stderr"`
	Limits map[string]string `json:"limits"`
	Report string            `json:"report"`
	Meta   string            `json:"meta"`
}

// callerFDs refuses a field that names the batch's own stdin or stdout
// (/dev/stdin, /dev/fd/1...): those carry the requests and the answers.
// jail's other descriptors (/dev/stderr, /dev/fd/3) may be named.
func (r *batchRequest) callerFDs() error {
	for _, f := range []struct{ name, path string }{
		{"stdin", r.Stdin}, {"stdout", r.Stdout}, {"stderr", r.Stderr}, {"report", r.Report}, {"meta", r.Meta},
	} {
		switch fd, ok := fs.CallerFD(f.path); {
		case !ok:
		case fd == 0:
			return fmt.Errorf("%s %s: descriptor 0 is the batch's input, its requests: give a file", f.name, f.path)
		case fd == 1:
			return fmt.Errorf("%s %s: descriptor 1 is the batch's output, its answers: give a file", f.name, f.path)
		}
	}
	return nil
}

// batchAnswer is one line of a batch's output.
type batchAnswer struct {
	ID string `json:"id"`
	*Report
}

// Exit codes of jail batch.
const (
	batchOK    = 0         // every request was answered (whatever the verdicts)
	batchSetup = exitSetup // the batch could not start (bad profile, options)
)

// batchMain runs the requests of in, one after the other.
func batchMain(args []string, in io.Reader, out, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(out, "usage: jail batch [--profile P] [OPTIONS] < requests\n\nRun one sandbox per JSON request line, answer one report per line (docs/cli.md).\n")
		return batchOK
	}
	if err == nil && len(opts.argv) > 0 {
		err = fmt.Errorf("batch takes its commands from its input, not %q", opts.argv[0])
	}
	if err == nil && (opts.stdin != "" || opts.stdout != "" || opts.stderr != "" || opts.report != "" || opts.meta != "" || opts.plan) {
		err = errors.New("--stdin, --stdout, --stderr, --report, --meta and --plan are per request in a batch")
	}
	if err != nil {
		fmt.Fprintf(stderr, "jail batch: %v\n", err)
		return exitUsage
	}
	b, err := newBatch(opts)
	if err != nil {
		fmt.Fprintf(stderr, "jail batch: %v\n", err)
		return batchSetup
	}
	if b.mapping.Warning != "" && !opts.quiet {
		fmt.Fprintf(stderr, "jail batch: warning: %s\n", b.mapping.Warning)
	}

	// The sweep runs once the last zygote is gone (deferred first, so it
	// runs after the zygote's close below).
	guard, err := guardVCS(b.profile, b.plan)
	if err != nil {
		fmt.Fprintf(stderr, "jail batch: %v\n", err)
		return batchSetup
	}
	defer sweepVCS(guard, stderr, "jail batch")

	var why string
	b.stderr = stderr
	// b.fast as it is at the end: restartZygote may replace it.
	defer func() {
		if b.fast != nil {
			b.fast.close()
		}
	}()
	if b.fast, why = startZygote(b); b.fast == nil && !opts.quiet && os.Getenv("JAIL_BATCH_ZYGOTE") != "0" {
		fmt.Fprintf(stderr, "jail batch: note: a full sandbox set-up per request (no zygote: %s)\n", why)
	}

	// SIGINT or SIGTERM ends the batch after the current run (which gets
	// the signal relayed and ends too).
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
			stop.Store(true)
		}
	}()

	enc := json.NewEncoder(out)
	lines := newRequestReader(in, maxRequestLine)
	for !stop.Load() {
		raw, long, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "jail batch: reading requests: %v\n", err)
			return batchSetup
		}
		var ans batchAnswer
		if long {
			ans = badRequest(fmt.Sprintf("bad request: line longer than %d bytes", maxRequestLine))
		} else if line := strings.TrimSpace(string(raw)); line != "" {
			ans = b.run(line)
		} else {
			continue
		}
		if err := enc.Encode(ans); err != nil {
			fmt.Fprintf(stderr, "jail batch: %v\n", err)
			return batchSetup
		}
	}
	return batchOK
}

// maxRequestLine is the longest request line (1 MiB); a longer one is
// answered XX, without an id, and the batch goes on with the next line.
const maxRequestLine = 1 << 20

// requestReader reads a batch's input line by line, holding at most max
// bytes of a line: the rest of a longer one is read and dropped.
type requestReader struct {
	r   *bufio.Reader
	max int
}

func newRequestReader(in io.Reader, max int) *requestReader {
	return &requestReader{r: bufio.NewReaderSize(in, 64<<10), max: max}
}

// next returns the next line without its newline, or long when it was
// longer than max (then line is nil); io.EOF after the last line.
func (q *requestReader) next() (line []byte, long bool, err error) {
	for {
		chunk, err := q.r.ReadSlice('\n')
		if !long && len(line)+len(chunk) > q.max+1 { // +1: the newline
			line, long = nil, true
		}
		if !long {
			line = append(line, chunk...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (len(line) > 0 || long):
			err = nil // a last line without a newline
		case err != nil:
			return nil, false, err
		}
		if long {
			return nil, true, nil
		}
		return bytes.TrimSuffix(line, []byte("\n")), false, nil
	}
}

// badRequest is the answer to a request that could not be read.
func badRequest(msg string) batchAnswer {
	return batchAnswer{Report: &Report{Version: reportVersion, Enforcement: map[string]string{}, Status: StatusXX, Message: msg}}
}

// batch is what every run of a batch shares.
type batch struct {
	opts    options
	profile *profile.Profile
	mapping userns.Mapping
	plan    *Plan   // with a placeholder command
	fast    *zygote // nil: every run takes the single-run path (batchfast.go)

	zygoteRestarts int       // zygotes started after the first died
	stderr         io.Writer // for the batch's notes
}

func newBatch(opts options) (*batch, error) {
	p, m, plan, err := prepare(opts, []string{"true"})
	if err != nil {
		return nil, err
	}
	return &batch{opts: opts, profile: p, mapping: m, plan: plan}, nil
}

// run runs one request line and returns its answer; it never fails: a bad
// request or a failed set-up is a report with status XX.
func (b *batch) run(line string) batchAnswer {
	rep := &Report{Version: reportVersion, Enforcement: map[string]string{}}
	ans := batchAnswer{Report: rep}
	var req batchRequest
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		rep.Status, rep.Message = StatusXX, "bad request: "+err.Error()
		var id struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(line), &id) // answer with its id if it has one
		ans.ID = id.ID
		return ans
	}
	ans.ID = req.ID
	if err := req.callerFDs(); err != nil {
		rep.Status, rep.Message = StatusXX, "bad request: "+err.Error()
		return ans
	}
	opts := b.opts
	opts.stdin, opts.stdout, opts.stderr = orDevNull(req.Stdin), orDevNull(req.Stdout), orDevNull(req.Stderr)
	opts.report, opts.meta = req.Report, req.Meta
	// As in a single run: the reports' directories are opened before the
	// sandbox exists.
	reports, rerr := openReports(opts)
	defer reports.close()
	p, err := b.requestProfile(req)
	if err == nil && len(req.Argv) == 0 {
		err = errors.New("bad request: argv is empty")
	}
	if err = errors.Join(err, rerr); err != nil {
		rep.Status, rep.Message = StatusXX, err.Error()
		_ = reports.write(rep)
		return ans
	}
	// A plan of its own: supervise changes its ids (rlimit fallback) and
	// rlimits.
	plan := *b.plan
	plan.Exec.Argv = slices.Clone(req.Argv)
	code, err := b.runOne(opts, p, &plan, rep)
	err = withIDHint(err, plan.IDMap, &plan.Exec)
	if err != nil {
		failedRun(rep, code, err)
	}
	if werr := reports.write(rep); werr != nil && rep.Message == "" {
		rep.Message = werr.Error()
	}
	return ans
}

// requestProfile is the batch's profile with the request's limits.
func (b *batch) requestProfile(req batchRequest) (*profile.Profile, error) {
	p := b.profile.Clone()
	if len(req.Limits) == 0 {
		return p, nil
	}
	var ovs []override
	for _, name := range slices.Sorted(maps.Keys(req.Limits)) {
		o, ok := overrideOptions["--"+name]
		if !ok || !strings.HasPrefix(o.key, "limits.") {
			return nil, fmt.Errorf("bad request: limits: unknown limit %q", name)
		}
		ov, err := o.parse(req.Limits[name])
		if err != nil {
			return nil, fmt.Errorf("bad request: limits: %s: %w", name, err)
		}
		ovs = append(ovs, ov)
	}
	if err := applyOverrides(p, ovs); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	return p, nil
}

func orDevNull(path string) string {
	if path == "" {
		return os.DevNull
	}
	return path
}
