package profile

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Offset is a signed time span for a clock offset of the time namespace:
// "365d", "-2h", "1d12h", "-90s". Days ("d") are 24 hours; the other units
// are Go's ("h", "m", "s", "ms", ...). A bare number is seconds.
type Offset time.Duration

// MaxOffset bounds an offset: the kernel refuses offsets that could
// overflow its clocks; 100 years is far within its limit and beyond any use.
const MaxOffset = Offset(100 * 365 * 24 * time.Hour)

// ParseOffset parses the string form of an Offset.
func ParseOffset(s string) (Offset, error) {
	t := strings.TrimSpace(s)
	neg := false
	if rest, ok := strings.CutPrefix(t, "-"); ok {
		neg, t = true, rest
	} else if rest, ok := strings.CutPrefix(t, "+"); ok {
		t = rest
	}
	bad := fmt.Errorf("invalid offset %q: want a signed span like \"365d\", \"-2h\" or \"1d12h\"", s)
	if t == "" {
		return 0, bad
	}
	if secs, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(secs, 0) && !math.IsNaN(secs) {
		t = strconv.FormatFloat(secs, 'f', -1, 64) + "s" // a bare number is seconds
	}
	var d time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		days, err := strconv.ParseUint(t[:i], 10, 32)
		if err != nil {
			return 0, bad
		}
		d = time.Duration(days) * 24 * time.Hour
		t = t[i+1:]
	}
	if t != "" {
		rest, err := time.ParseDuration(t)
		if err != nil || rest < 0 {
			return 0, bad
		}
		d += rest
	}
	if d > time.Duration(MaxOffset) || d < 0 {
		return 0, fmt.Errorf("invalid offset %q: at most %s either way", s, MaxOffset)
	}
	if neg {
		d = -d
	}
	return Offset(d), nil
}

// UnmarshalTOML implements toml.Unmarshaler.
func (o *Offset) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		p, err := ParseOffset(v)
		*o = p
		return err
	case int64:
		if v > int64(time.Duration(MaxOffset)/time.Second) || -v > int64(time.Duration(MaxOffset)/time.Second) {
			return fmt.Errorf("invalid offset %d: at most %s either way", v, MaxOffset)
		}
		*o = Offset(time.Duration(v) * time.Second)
	case float64:
		if math.IsNaN(v) || math.Abs(v) > float64(time.Duration(MaxOffset)/time.Second) {
			return fmt.Errorf("invalid offset %v: at most %s either way", v, MaxOffset)
		}
		*o = Offset(v * float64(time.Second))
	default:
		return fmt.Errorf("invalid offset: want a string like \"-2h\" or a number of seconds, got %T", v)
	}
	return nil
}

// String prints the offset with days when it has whole ones: "365d",
// "-1d12h0m0s", "-2h0m0s".
func (o Offset) String() string {
	d := time.Duration(o)
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days := d / (24 * time.Hour)
	rest := d % (24 * time.Hour)
	switch {
	case days == 0:
		return sign + rest.String()
	case rest == 0:
		return fmt.Sprintf("%s%dd", sign, days)
	}
	return fmt.Sprintf("%s%dd%s", sign, days, rest)
}

// MarshalText makes JSON and TOML output readable and parseable again.
func (o Offset) MarshalText() ([]byte, error) { return []byte(o.String()), nil }
