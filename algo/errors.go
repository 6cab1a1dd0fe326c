package algo

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched (with errors.Is) by every error that reports invalid
// input: a bad quota, key, cost, time or option. Such an error is returned
// before any state is read or written.
var ErrInvalid = errors.New("throttled: invalid input")

// DataError reports one invalid input value. It matches ErrInvalid.
type DataError struct {
	Name   string // what was bad: "limit", "burst", "period", "cost", "key", ...
	Value  any    // the bad value as given
	Reason string // why it is refused
}

// Error returns a message such as
// "throttled: invalid limit 0: must be at least 1".
func (e *DataError) Error() string {
	return fmt.Sprintf("throttled: invalid %s %s: %s", e.Name, quoteValue(e.Value), e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *DataError) Is(target error) bool { return target == ErrInvalid }

func quoteValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case fmt.Stringer:
		return fmt.Sprintf("%q", v.String())
	default:
		return fmt.Sprint(v)
	}
}

func invalid(name string, value any, reason string, args ...any) *DataError {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	return &DataError{Name: name, Value: value, Reason: reason}
}
