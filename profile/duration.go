package profile

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Duration is a time span. In TOML it is a string such as "2.5s", "500ms"
// or "1m30s" (Go's time.ParseDuration), or a number of seconds.
type Duration time.Duration

// ParseDuration parses the string form of a Duration.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, like \"2.5s\" or \"500ms\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return Duration(d), nil
}

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		p, err := ParseDuration(v)
		*d = p
		return err
	case int64:
		if v < 0 || v > math.MaxInt64/int64(time.Second) {
			return fmt.Errorf("invalid duration %d: out of range", v)
		}
		*d = Duration(time.Duration(v) * time.Second)
	case float64:
		if v < 0 || v*float64(time.Second) > math.MaxInt64 || math.IsNaN(v) {
			return fmt.Errorf("invalid duration %v: out of range", v)
		}
		*d = Duration(v * float64(time.Second))
	default:
		return fmt.Errorf("invalid duration: want a string like \"2.5s\" or a number of seconds, got %T", v)
	}
	return nil
}

// String prints the duration as Go does ("2.5s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText makes JSON and TOML output readable ("2.5s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
