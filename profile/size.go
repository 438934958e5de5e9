package profile

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Size is a byte count. In TOML it is either an integer (bytes) or a string
// of decimal digits with an optional unit suffix. Every unit is a binary
// multiple and the suffix is case-insensitive: "k", "kb" and "kib" all mean
// 1024; likewise m/mb/mib (1024²), g/gb/gib (1024³) and t/tb/tib (1024⁴);
// "b" or no suffix means bytes. So "64k" = "64KiB" = "64KB" = 65536.
// Fractions ("1.5G") and negative values are refused.
type Size uint64

var sizeUnits = []struct {
	shift    uint
	suffixes []string
	name     string
}{
	{40, []string{"t", "tb", "tib"}, "TiB"},
	{30, []string{"g", "gb", "gib"}, "GiB"},
	{20, []string{"m", "mb", "mib"}, "MiB"},
	{10, []string{"k", "kb", "kib"}, "KiB"},
	{0, []string{"", "b"}, ""},
}

// ParseSize parses the string form of a Size, e.g. "64MiB".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q: want digits with an optional unit like \"64MiB\"", s)
	}
	n, err := strconv.ParseUint(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	suffix := strings.ToLower(strings.TrimSpace(t[i:]))
	for _, u := range sizeUnits {
		for _, x := range u.suffixes {
			if suffix != x {
				continue
			}
			if n > math.MaxUint64>>u.shift {
				return 0, fmt.Errorf("invalid size %q: too large", s)
			}
			return Size(n << u.shift), nil
		}
	}
	return 0, fmt.Errorf("invalid size %q: unknown unit %q (use K, M, G or T, all binary)", s, t[i:])
}

// UnmarshalTOML implements toml.Unmarshaler: an integer is a byte count, a
// string is parsed with ParseSize.
func (z *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("invalid size %d: must not be negative", v)
		}
		*z = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*z = n
		return nil
	}
	return errors.New("invalid size: want an integer (bytes) or a string like \"64MiB\"")
}

// String returns the size with the largest binary unit that divides it
// exactly ("64MiB", "1GiB"), or the plain byte count ("1000").
func (z Size) String() string {
	n := uint64(z)
	if n == 0 {
		return "0"
	}
	for _, u := range sizeUnits {
		if u.shift > 0 && uint(bits.TrailingZeros64(n)) >= u.shift {
			return strconv.FormatUint(n>>u.shift, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10)
}
