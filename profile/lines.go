package profile

import (
	"strconv"
	"strings"
)

// lineIndex maps a key path ("hostname", "user.uid", "mount[1]",
// "mount[1].target") to the line where it is assigned or where its table
// header is. BurntSushi/toml keeps key positions private, so the index is
// built by scanLines from the source text.
type lineIndex map[string]int

// find returns the line of path, or of its longest prefix that is known (so
// a key inside an inline table resolves to the line of the table, and an
// element of an inline array to the line of the array), or 0.
func (li lineIndex) find(path ...string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := li[strings.Join(path[:n], ".")]; ok {
			return l
		}
		// "mount[1]" of an inline array: the line of "mount = [".
		last := path[n-1]
		if i := strings.LastIndexByte(last, '['); i > 0 && strings.HasSuffix(last, "]") {
			key := strings.Join(append(path[:n-1:n-1], last[:i]), ".")
			if l, ok := li[key]; ok {
				return l
			}
		}
	}
	return 0
}

// scanLines records the line of every table header and every key assigned
// outside inline values. It only runs on text the TOML parser accepted, so
// it is lenient: anything it does not understand is skipped to the end of
// the line.
func scanLines(src string) lineIndex {
	s := &lineScanner{src: src, line: 1, idx: lineIndex{}, arrays: map[string]int{}}
	s.run()
	return s.idx
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	table  []string       // current table, as formatted path components
	idx    lineIndex      // result
	arrays map[string]int // array-of-tables path -> elements seen
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

// adv consumes one byte, counting lines.
func (s *lineScanner) adv() {
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

func (s *lineScanner) run() {
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		line := s.line
		switch {
		case strings.HasPrefix(s.src[s.pos:], "[["):
			s.pos += 2
			s.table = s.resolve(s.key(), true)
			s.idx[strings.Join(s.table, ".")] = line
			s.skipLine()
		case s.src[s.pos] == '[':
			s.pos++
			s.table = s.resolve(s.key(), false)
			s.idx[strings.Join(s.table, ".")] = line
			s.skipLine()
		default:
			keys := s.key()
			s.skipSpace()
			if len(keys) == 0 || s.eof() || s.src[s.pos] != '=' {
				s.skipLine()
				continue
			}
			s.pos++
			path := append([]string(nil), s.table...)
			for _, k := range keys {
				path = append(path, keySeg(k))
			}
			s.idx[strings.Join(path, ".")] = line
			s.skipValue()
		}
	}
}

// resolve turns the keys of a table header into a path, adding the current
// element index to every array of tables on the way; for a [[header]]
// (array) the last component gets a new index.
func (s *lineScanner) resolve(keys []string, array bool) []string {
	var path []string
	for i, k := range keys {
		seg := keySeg(k)
		at := strings.Join(append(path, seg), ".")
		n, seen := s.arrays[at]
		switch {
		case array && i == len(keys)-1:
			s.arrays[at] = n + 1
			seg += "[" + strconv.Itoa(n) + "]"
		case seen:
			seg += "[" + strconv.Itoa(n-1) + "]"
		}
		path = append(path, seg)
	}
	return path
}

// skipBlank skips white space, newlines and comments.
func (s *lineScanner) skipBlank() {
	for !s.eof() {
		switch s.src[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.adv()
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *lineScanner) skipSpace() {
	for !s.eof() && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

func (s *lineScanner) skipComment() {
	for !s.eof() && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// skipLine consumes the rest of the line, newline included.
func (s *lineScanner) skipLine() {
	for !s.eof() {
		c := s.src[s.pos]
		s.adv()
		if c == '\n' {
			return
		}
	}
}

// key reads a possibly dotted key: bare, "basic" or 'literal' segments.
func (s *lineScanner) key() []string {
	var keys []string
	for {
		s.skipSpace()
		if s.eof() {
			return keys
		}
		switch c := s.src[s.pos]; c {
		case '"', '\'':
			start := s.pos
			s.skipString(c, false)
			raw := s.src[start:s.pos]
			k := strings.Trim(raw, string(c))
			if c == '"' {
				if u, err := strconv.Unquote(raw); err == nil {
					k = u
				}
			}
			keys = append(keys, k)
		default:
			start := s.pos
			for !s.eof() && isBare(s.src[s.pos:s.pos+1]) {
				s.pos++
			}
			if s.pos == start {
				return keys
			}
			keys = append(keys, s.src[start:s.pos])
		}
		s.skipSpace()
		if s.eof() || s.src[s.pos] != '.' {
			return keys
		}
		s.pos++
	}
}

// skipString consumes a string that starts at s.pos with quote q; multi
// allows the triple-quoted (multi-line) forms.
func (s *lineScanner) skipString(q byte, multi bool) {
	delim := string(q)
	if multi && strings.HasPrefix(s.src[s.pos:], delim+delim+delim) {
		delim += delim + delim
	}
	s.pos += len(delim)
	for !s.eof() {
		c := s.src[s.pos]
		switch {
		case c == '\\' && q == '"':
			s.adv()
			if !s.eof() {
				s.adv()
			}
		case c == '\n' && len(delim) == 1:
			return // unterminated; leave the newline for the caller
		case strings.HasPrefix(s.src[s.pos:], delim):
			s.pos += len(delim)
			// """a"""" is allowed: up to two quotes belong to the content.
			for n := 0; len(delim) == 3 && n < 2 && !s.eof() && s.src[s.pos] == q; n++ {
				s.pos++
			}
			return
		default:
			s.adv()
		}
	}
}

// skipValue consumes a value up to the end of its line, following arrays,
// inline tables and strings over several lines.
func (s *lineScanner) skipValue() {
	depth := 0
	for !s.eof() {
		switch c := s.src[s.pos]; c {
		case '\n':
			if depth == 0 {
				return
			}
			s.adv()
		case '#':
			s.skipComment()
		case '"', '\'':
			s.skipString(c, true)
		case '[', '{':
			depth++
			s.pos++
		case ']', '}':
			if depth > 0 {
				depth--
			}
			s.pos++
		default:
			s.pos++
		}
	}
}
