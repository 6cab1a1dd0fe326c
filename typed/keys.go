package typed

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
)

// encoderFor returns how keys of type K become strings: f when given, else
// by K's kind. It reports an error when K has no encoding.
func encoderFor[K comparable](f any) (func(K) (string, error), error) {
	if f != nil {
		fn, ok := f.(func(K) (string, error))
		if !ok {
			return nil, &algo.DataError{Name: "key func", Value: fmt.Sprintf("%T", f), Reason: fmt.Sprintf("want func(%s) (string, error)", reflect.TypeFor[K]())}
		}
		if fn == nil {
			return nil, &algo.DataError{Name: "key func", Value: "nil", Reason: "KeyFunc needs a function"}
		}
		return fn, nil
	}
	typ := reflect.TypeFor[K]()
	switch {
	case typ.Kind() == reflect.String:
		return func(k K) (string, error) { return *(*string)(unsafe.Pointer(&k)), nil }, nil
	case typ.Implements(reflect.TypeFor[fmt.Stringer]()):
		return func(k K) (string, error) { return any(k).(fmt.Stringer).String(), nil }, nil
	case typ.Implements(reflect.TypeFor[encoding.TextMarshaler]()):
		return func(k K) (string, error) {
			b, err := any(k).(encoding.TextMarshaler).MarshalText()
			return string(b), err
		}, nil
	}
	switch typ.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(k K) (string, error) { return strconv.FormatInt(reflect.ValueOf(k).Int(), 10), nil }, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(k K) (string, error) { return strconv.FormatUint(reflect.ValueOf(k).Uint(), 10), nil }, nil
	}
	return nil, &algo.DataError{Name: "key type", Value: typ.String(), Reason: "has no string encoding for this store; give typed.KeyFunc or implement fmt.Stringer"}
}

// isEmptyString reports whether k is of a string kind and empty.
func isEmptyString[K comparable](k K) bool {
	if reflect.TypeFor[K]().Kind() != reflect.String {
		return false
	}
	return *(*string)(unsafe.Pointer(&k)) == ""
}
