package main

// The reference documentation, docs/profile.md and docs/cli.md, is checked
// here against the code it describes: the profile keys (by reflection over
// the toml tags of profile.Profile), their defaults, merge rules and
// variable expansion (read from profile/load.go), and every option of
// every command (from the option tables and the argument switches). A key
// or a flag added without its documentation fails these tests, and so
// does documentation of one that does not exist.
//
// The documents are read as Markdown tables. A table whose header starts
// with "key" documents profile keys, one per row; one that starts with
// "option" documents flags, one or more per row; "command", "status" and
// "variable" tables list the commands, exit statuses and environment
// variables. A table belongs to the command named in the heading above it
// ("### `jail doctor`"), or to a run of jail when the heading names none.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/profile"
)

const (
	profileDoc = "../../docs/profile.md"
	cliDoc     = "../../docs/cli.md"
)

// mdTable is one Markdown table: its header, rows and the command its
// section is about ("" for a run of jail).
type mdTable struct {
	scope  string
	header []string
	rows   []mdRow
}

type mdRow struct {
	line  int
	cells []string
}

// col returns the index of the header cell named name, or -1.
func (tb mdTable) col(name string) int {
	return slices.Index(tb.header, name)
}

func (r mdRow) cell(i int) string {
	if i < 0 || i >= len(r.cells) {
		return ""
	}
	return r.cells[i]
}

var headingCommandRE = regexp.MustCompile(`\bjail ([a-z][a-z-]*)`)

// readTables parses the tables of a Markdown file, outside code blocks.
func readTables(t *testing.T, path string) []mdTable {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var (
		tables []mdTable
		scope  string
		fence  bool
	)
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		if strings.HasPrefix(l, "#") {
			scope = ""
			if m := headingCommandRE.FindStringSubmatch(l); m != nil && slices.Contains(subcommands, m[1]) {
				scope = m[1]
			}
			continue
		}
		if !strings.HasPrefix(l, "|") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "|---") {
			continue
		}
		tb := mdTable{scope: scope, header: splitRow(l)}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			tb.rows = append(tb.rows, mdRow{line: i + 1, cells: splitRow(lines[i])})
		}
		tables = append(tables, tb)
	}
	return tables
}

// splitRow splits a table row into its trimmed cells; `\|` is a literal |.
func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			cur.WriteByte('|')
			i++
		case l[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(l[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

var codeSpanRE = regexp.MustCompile("`([^`]*)`")

// codeSpans returns the contents of the `code` spans of s.
func codeSpans(s string) []string {
	var out []string
	for _, m := range codeSpanRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// flagsIn returns the flags a cell names: the first word of each code
// span that starts with "-", without an "=value".
func flagsIn(s string) []string {
	var out []string
	for _, span := range codeSpans(s) {
		f := strings.Fields(span)
		if len(f) == 0 || !strings.HasPrefix(f[0], "-") || f[0] == "-" || f[0] == "--" {
			continue
		}
		name, _, _ := strings.Cut(f[0], "=")
		out = append(out, name)
	}
	return out
}

// keyInfo describes one profile key found by reflection.
type keyInfo struct {
	typ     reflect.Type
	index   []int // field index path from Profile, when not inside an entry
	inEntry bool  // inside [[mount]], [[seccomp.rule]] or a table of names
}

// profileKeys lists every key of a profile, by its full path: sections are
// walked, arrays of tables too ("mount.target"), and a table of names is
// written NAME ("env.set.NAME").
func profileKeys() map[string]keyInfo {
	keys := map[string]keyInfo{}
	pkg := reflect.TypeOf(profile.Profile{}).PkgPath()
	var walk func(t reflect.Type, prefix string, index []int, inEntry bool)
	walk = func(t reflect.Type, prefix string, index []int, inEntry bool) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := prefix + name
			idx := append(slices.Clone(index), i)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft.PkgPath() == pkg:
				walk(ft, key+".", idx, inEntry)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+".", nil, true)
			case ft.Kind() == reflect.Map:
				keys[key+".NAME"] = keyInfo{typ: ft.Elem(), inEntry: true}
			default:
				keys[key] = keyInfo{typ: ft, index: idx, inEntry: inEntry}
			}
		}
	}
	walk(reflect.TypeOf(profile.Profile{}), "", nil, false)
	return keys
}

// isTable reports whether name is a section of the profile: a proper
// prefix of some key.
func isTable(keys map[string]keyInfo, name string) bool {
	for k := range keys {
		if strings.HasPrefix(k, name+".") {
			return true
		}
	}
	return false
}

// typeName is the word docs/profile.md uses for a key's type.
func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(profile.Size(0)):
		return "size"
	case reflect.TypeOf(profile.Duration(0)):
		return "duration"
	case reflect.TypeOf(profile.Offset(0)):
		return "offset"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "array of strings"
		}
	}
	return ""
}

// tomlLiteral writes a default value as docs/profile.md shows it.
func tomlLiteral(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Len() == 0 {
			return "[]"
		}
	}
	return ""
}

// docKey is one documented profile key.
type docKey struct {
	row mdRow
	tb  mdTable
}

// documentedKeys reads the "key" tables of docs/profile.md.
func documentedKeys(t *testing.T) map[string]docKey {
	t.Helper()
	doc := map[string]docKey{}
	for _, tb := range readTables(t, profileDoc) {
		if tb.col("key") != 0 {
			continue
		}
		for _, r := range tb.rows {
			spans := codeSpans(r.cell(0))
			if len(spans) != 1 || "`"+spans[0]+"`" != r.cell(0) {
				t.Errorf("%s:%d: the first cell must be one key path in backticks, not %q", profileDoc, r.line, r.cell(0))
				continue
			}
			if prev, dup := doc[spans[0]]; dup {
				t.Errorf("%s:%d: %s documented twice (also line %d)", profileDoc, r.line, spans[0], prev.row.line)
			}
			doc[spans[0]] = docKey{row: r, tb: tb}
		}
	}
	if len(doc) == 0 {
		t.Fatalf("%s: no key tables found", profileDoc)
	}
	return doc
}

// TestDocsProfileKeys: every key of the profile structs is documented,
// with its type and default, and nothing else is.
func TestDocsProfileKeys(t *testing.T) {
	keys := profileKeys()
	doc := documentedKeys(t)
	for _, k := range sortedKeys(keys) {
		if _, ok := doc[k]; !ok {
			t.Errorf("profile key %s (toml tags of profile.Profile) is not documented in %s", k, profileDoc)
		}
	}
	for _, k := range sortedKeys(doc) {
		if _, ok := keys[k]; !ok {
			t.Errorf("%s:%d: documents %s, which is not a profile key", profileDoc, doc[k].row.line, k)
		}
	}

	// Defaults: a profile without extends that sets nothing.
	empty, err := profile.Loader{}.Parse(nil, "empty.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sortedKeys(keys) {
		info, d := keys[k], doc[k]
		if d.tb.header == nil {
			continue
		}
		for _, col := range []string{"type", "default", "extends", "${VAR}", "flag", "meaning"} {
			if d.tb.col(col) < 0 {
				t.Fatalf("%s:%d: the table of %s has no %q column", profileDoc, d.row.line, k, col)
			}
		}
		want := typeName(info.typ)
		if want == "" {
			t.Errorf("%s has Go type %v, which typeName in docs_test.go does not name yet", k, info.typ)
		} else if got := d.row.cell(d.tb.col("type")); !strings.HasPrefix(got, want) {
			t.Errorf("%s:%d: %s is of type %s, the document says %q", profileDoc, d.row.line, k, want, got)
		}
		if info.inEntry {
			continue // an entry's defaults depend on its type: prose
		}
		lit := tomlLiteral(reflect.ValueOf(empty).Elem().FieldByIndex(info.index))
		if got := d.row.cell(d.tb.col("default")); lit == "" || !strings.Contains(got, "`"+lit+"`") {
			t.Errorf("%s:%d: %s defaults to %s, the document says %q", profileDoc, d.row.line, k, lit, got)
		}
	}
}

// TestDocsProfileMergeAndVars: the extends and ${VAR} columns agree with
// profile/load.go: mergeFields replaces every key but those it leaves to
// merge by hand, and decoder.expand names the keys it expands.
func TestDocsProfileMergeAndVars(t *testing.T) {
	keys := profileKeys()
	doc := documentedKeys(t)
	file := parseGo(t, "../../profile/load.go")

	byHand := stringCases(t, findFunc(t, file, "mergeFields"))
	expanded := map[string]bool{}
	ast.Inspect(findFunc(t, file, "expand"), func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isIdent(call.Fun, "one") {
			return true
		}
		var path []string
		for _, a := range call.Args[1:] {
			switch a := a.(type) {
			case *ast.BasicLit:
				s, _ := strconv.Unquote(a.Value)
				path = append(path, s)
			case *ast.CallExpr:
				switch {
				case isIdent(a.Fun, "mountSeg"):
					path = append(path, "mount")
				case isIdent(a.Fun, "keySeg"):
					path = append(path, "NAME")
				default:
					t.Fatalf("profile/load.go: expand: cannot read the key path of a call to one; update docs_test.go")
				}
			}
		}
		expanded[strings.Join(path, ".")] = true
		return true
	})
	if len(byHand) == 0 || len(expanded) == 0 {
		t.Fatalf("profile/load.go: found no merge rules (%v) or expanded keys (%v); update docs_test.go", byHand, expanded)
	}
	for k := range expanded {
		if _, ok := keys[k]; !ok {
			t.Errorf("profile/load.go expands %s, which is not a profile key", k)
		}
	}

	for _, k := range sortedKeys(keys) {
		d, ok := doc[k]
		if !ok || d.tb.col("extends") < 0 || d.tb.col("${VAR}") < 0 {
			continue // reported by TestDocsProfileKeys
		}
		replaced := true
		parts := strings.Split(k, ".")
		for n := 1; n <= len(parts); n++ {
			if byHand[strings.Join(parts[:n], ".")] {
				replaced = false
			}
		}
		got := d.row.cell(d.tb.col("extends"))
		switch {
		case replaced && !strings.HasPrefix(got, "replaces"):
			t.Errorf("%s:%d: %s: mergeFields replaces the parent's value, so the extends column must start with \"replaces\", not %q", profileDoc, d.row.line, k, got)
		case !replaced && strings.HasPrefix(got, "replaces"):
			t.Errorf("%s:%d: %s: mergeFields leaves it to be merged by hand, so the extends column must say how, not %q", profileDoc, d.row.line, k, got)
		}
		want := "no"
		if expanded[k] {
			want = "yes"
		}
		if got := d.row.cell(d.tb.col("${VAR}")); got != want {
			t.Errorf("%s:%d: %s: ${VAR} column %q, want %q (decoder.expand)", profileDoc, d.row.line, k, got, want)
		}
	}

	// The variables jail defines itself.
	var forms []string
	for _, tb := range readTables(t, profileDoc) {
		if tb.col("form") == 0 {
			for _, r := range tb.rows {
				forms = append(forms, codeSpans(r.cell(0))...)
			}
		}
	}
	for _, v := range profile.VarNames {
		if !slices.Contains(forms, "${"+v+"}") {
			t.Errorf("%s: variable ${%s} (profile.VarNames) is not in the variables table", profileDoc, v)
		}
	}
}

// overrideKeyTokens returns the profile keys or sections an override's key
// names: "mount (type bind, rw)" names mount, "time.monotonic,
// time.boottime" two keys.
func overrideKeyTokens(keys map[string]keyInfo, key string) []string {
	var out []string
	for _, tok := range regexp.MustCompile(`[a-z_]+(?:\.[a-z_]+)*`).FindAllString(key, -1) {
		if _, ok := keys[tok]; ok || isTable(keys, tok) {
			out = append(out, tok)
		}
	}
	return out
}

// overrideKey returns the profile key a flag sets, if it sets one.
func overrideKey(flag string) (string, bool) {
	if o, ok := overrideOptions[flag]; ok {
		return o.key, true
	}
	if o, ok := flagOptions[flag]; ok {
		return o.key, true
	}
	return "", false
}

// TestDocsProfileFlags: the flag column of docs/profile.md names, for each
// key, the options that set it.
func TestDocsProfileFlags(t *testing.T) {
	keys := profileKeys()
	doc := documentedKeys(t)
	covers := func(tokens []string, k string) bool {
		for _, tok := range tokens {
			if k == tok || strings.HasPrefix(k, tok+".") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	for _, k := range sortedKeys(doc) {
		d := doc[k]
		if d.tb.col("flag") < 0 {
			continue
		}
		for _, f := range flagsIn(d.row.cell(d.tb.col("flag"))) {
			key, ok := overrideKey(f)
			if !ok {
				t.Errorf("%s:%d: %s: %s is not an option that changes the profile", profileDoc, d.row.line, k, f)
				continue
			}
			if !covers(overrideKeyTokens(keys, key), k) {
				t.Errorf("%s:%d: %s: %s sets %q, not this key", profileDoc, d.row.line, k, f, key)
			}
			seen[f] = true
		}
	}
	for _, f := range mainFlags() {
		key, ok := overrideKey(f)
		if !ok {
			continue
		}
		tokens := overrideKeyTokens(keys, key)
		if len(tokens) == 0 {
			t.Errorf("%s: its profile key %q names no profile key", f, key)
			continue
		}
		if !seen[f] {
			t.Errorf("%s sets %s, but no key of it in %s names the flag", f, key, profileDoc)
		}
		for _, tok := range tokens {
			if d, ok := doc[tok]; ok && !slices.Contains(flagsIn(d.row.cell(d.tb.col("flag"))), f) {
				t.Errorf("%s:%d: %s: the flag column lacks %s, which sets it", profileDoc, d.row.line, tok, f)
			}
		}
	}
}

// mainFlags are the options of a run (and of jail check), sorted.
func mainFlags() []string {
	var out []string
	for f := range valueOptions {
		out = append(out, f)
	}
	for f := range overrideOptions {
		out = append(out, f)
	}
	for f := range flagOptions {
		out = append(out, f)
	}
	out = append(out, plainOptions...)
	slices.Sort(out)
	return slices.Compact(out)
}

// commandFlags are the options of each command, by scope: "" for a run
// (the option tables), the others read from the switch of each command's
// function (their options have no table).
func commandFlags(t *testing.T) map[string][]string {
	t.Helper()
	flags := map[string][]string{"": mainFlags()}
	for cmd, fn := range map[string]struct{ file, fn string }{
		"doctor":       {"doctor.go", "doctorMain"},
		"setup-cgroup": {"setup.go", "setupCgroupMain"},
	} {
		for s := range stringCases(t, findFunc(t, parseGo(t, fn.file), fn.fn)) {
			if strings.HasPrefix(s, "-") {
				flags[cmd] = append(flags[cmd], s)
			}
		}
		slices.Sort(flags[cmd])
		if len(flags[cmd]) == 0 {
			t.Fatalf("%s: found no options in %s; update docs_test.go", fn.fn, fn.file)
		}
	}
	return flags
}

// TestDocsCLIFlags: docs/cli.md documents every option of every command,
// nothing else, and for each override the profile key it sets.
func TestDocsCLIFlags(t *testing.T) {
	known := commandFlags(t)
	documented := map[string]map[string]int{} // scope -> flag -> line
	for _, tb := range readTables(t, cliDoc) {
		if tb.col("option") != 0 {
			continue
		}
		if documented[tb.scope] == nil {
			documented[tb.scope] = map[string]int{}
		}
		keyCol := tb.col("profile key")
		for _, r := range tb.rows {
			fs := flagsIn(r.cell(0))
			if len(fs) == 0 {
				t.Errorf("%s:%d: the first cell names no option: %q", cliDoc, r.line, r.cell(0))
			}
			for _, f := range fs {
				if l, dup := documented[tb.scope][f]; dup {
					t.Errorf("%s:%d: %s documented twice (also line %d)", cliDoc, r.line, f, l)
				}
				documented[tb.scope][f] = r.line
				key, sets := overrideKey(f)
				if tb.scope != "" {
					continue
				}
				switch {
				case sets && keyCol < 0:
					t.Errorf("%s:%d: %s sets %s: its table needs a profile key column", cliDoc, r.line, f, key)
				case sets:
					if got := strings.ReplaceAll(r.cell(keyCol), "`", ""); got != key {
						t.Errorf("%s:%d: %s: profile key %q, but overrideOptions says %q", cliDoc, r.line, f, got, key)
					}
				case keyCol >= 0 && r.cell(keyCol) != "":
					t.Errorf("%s:%d: %s changes no profile key, the document says %q", cliDoc, r.line, f, r.cell(keyCol))
				}
			}
		}
	}
	for _, scope := range sortedKeys(known) {
		name := commandName(scope)
		for _, f := range known[scope] {
			if _, ok := documented[scope][f]; !ok {
				t.Errorf("%s: option %s of %s is not documented (an option table under its heading)", cliDoc, f, name)
			}
		}
		for _, f := range sortedKeys(documented[scope]) {
			if !slices.Contains(known[scope], f) {
				t.Errorf("%s:%d: documents %s for %s, which has no such option", cliDoc, documented[scope][f], f, name)
			}
		}
	}
	for f := range documented {
		if _, ok := known[f]; !ok {
			t.Errorf("%s: option tables under the heading of %s, which has options of its own unknown to docs_test.go", cliDoc, f)
		}
	}

	// Any option named in either document exists.
	var all []string
	for _, fs := range known {
		all = append(all, fs...)
	}
	for _, path := range []string{profileDoc, cliDoc} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			for _, f := range flagsIn(l) {
				if strings.HasPrefix(f, "--") && !slices.Contains(all, f) {
					t.Errorf("%s:%d: names %s, which is no option of jail's", path, i+1, f)
				}
			}
		}
	}
}

// TestDocsCLICommands: the commands jail dispatches are the subcommands
// list, docs/cli.md documents each of them, and plainOptions lists every
// option parseArgs takes without a value.
func TestDocsCLICommands(t *testing.T) {
	mainFile := parseGo(t, "main.go")
	dispatched := stringCases(t, findFunc(t, mainFile, "jailMain"))
	if !mapEqualsList(dispatched, subcommands) {
		t.Errorf("jailMain dispatches %v, but subcommands lists %v", sortedKeys(dispatched), subcommands)
	}
	plain := stringCases(t, findFunc(t, mainFile, "parseArgs"))
	delete(plain, "--")
	if !mapEqualsList(plain, plainOptions) {
		t.Errorf("parseArgs takes %v without a value, but plainOptions lists %v", sortedKeys(plain), plainOptions)
	}

	var documented []string
	for _, tb := range readTables(t, cliDoc) {
		if tb.col("command") != 0 {
			continue
		}
		for _, r := range tb.rows {
			spans := codeSpans(r.cell(0))
			f := []string{}
			if len(spans) > 0 {
				f = strings.Fields(spans[0])
			}
			if len(f) < 2 || f[0] != "jail" {
				t.Errorf("%s:%d: the first cell must be `jail COMMAND ...`, not %q", cliDoc, r.line, r.cell(0))
				continue
			}
			documented = append(documented, f[1])
		}
	}
	for _, c := range subcommands {
		if !slices.Contains(documented, c) {
			t.Errorf("%s: command %s is not in the commands table", cliDoc, c)
		}
	}
	for _, c := range documented {
		if !slices.Contains(subcommands, c) {
			t.Errorf("%s: documents command %s, which jail does not have", cliDoc, c)
		}
	}
}

// TestDocsCLIExitStatus: each command's exit statuses are in its status
// table, and JAIL_CGROUP in the environment table.
func TestDocsCLIExitStatus(t *testing.T) {
	setupCodes := map[int]bool{}
	ast.Inspect(findFunc(t, parseGo(t, "setup.go"), "setupCgroupMain"), func(n ast.Node) bool {
		if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
			if lit, ok := r.Results[0].(*ast.BasicLit); ok && lit.Kind == token.INT {
				c, _ := strconv.Atoi(lit.Value)
				setupCodes[c] = true
			}
		}
		return true
	})
	want := map[string][]int{
		"":             {exitSetup, exitNotExec, exitNotFound, exitLimit},
		"check":        {checkOK, checkInvalid},
		"doctor":       {doctorOK, doctorFail, doctorUsage},
		"setup-cgroup": sortedKeys(setupCodes),
	}
	documented := map[string][]int{}
	var env []string
	for _, tb := range readTables(t, cliDoc) {
		switch tb.col("status") {
		case 0:
			for _, r := range tb.rows {
				if c, err := strconv.Atoi(strings.Trim(r.cell(0), "`")); err == nil {
					documented[tb.scope] = append(documented[tb.scope], c)
				}
			}
		}
		if tb.col("variable") == 0 {
			for _, r := range tb.rows {
				env = append(env, codeSpans(r.cell(0))...)
			}
		}
	}
	for _, scope := range sortedKeys(want) {
		for _, c := range want[scope] {
			if !slices.Contains(documented[scope], c) {
				t.Errorf("%s: exit status %d of %s is not in its status table", cliDoc, c, commandName(scope))
			}
		}
		for _, c := range documented[scope] {
			if !slices.Contains(want[scope], c) {
				t.Errorf("%s: documents exit status %d for %s, which the code does not use", cliDoc, c, commandName(scope))
			}
		}
	}
	if !slices.Contains(env, limits.EnvCgroup) {
		t.Errorf("%s: %s is not in the environment table", cliDoc, limits.EnvCgroup)
	}
}

// TestDocsUsage: jail --help and each command's help name all their
// options and the commands.
func TestDocsUsage(t *testing.T) {
	inText := func(text, word string) bool {
		return regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(word) + `($|[^A-Za-z0-9-])`).MatchString(text)
	}
	flags := commandFlags(t)
	for scope, text := range map[string]string{"": usage, "doctor": doctorUsageText, "setup-cgroup": setupUsage} {
		for _, f := range flags[scope] {
			if scope != "" && (f == "-h" || f == "--help") {
				continue // the help itself
			}
			if !inText(text, f) {
				t.Errorf("the usage of %s does not name %s", commandName(scope), f)
			}
		}
	}
	for _, c := range subcommands {
		if !inText(usage, c) {
			t.Errorf("the usage of jail does not name the command %s", c)
		}
	}
}

// commandName names a scope in messages: "jail" or "jail doctor".
func commandName(scope string) string {
	if scope == "" {
		return "jail"
	}
	return "jail " + scope
}

func parseGo(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func findFunc(t *testing.T, f *ast.File, name string) *ast.FuncDecl {
	t.Helper()
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name {
			return fd
		}
	}
	t.Fatalf("no func %s in %s; update docs_test.go", name, f.Name.Name)
	return nil
}

// stringCases returns the string literals of the case clauses in fn.
func stringCases(t *testing.T, fn *ast.FuncDecl) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	ast.Inspect(fn, func(n ast.Node) bool {
		cc, ok := n.(*ast.CaseClause)
		if !ok {
			return true
		}
		for _, e := range cc.List {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[s] = true
			}
		}
		return true
	})
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func mapEqualsList(m map[string]bool, l []string) bool {
	if len(m) != len(l) {
		return false
	}
	for _, s := range l {
		if !m[s] {
			return false
		}
	}
	return true
}

func sortedKeys[K interface{ ~string | ~int }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
