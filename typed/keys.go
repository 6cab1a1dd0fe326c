package typed

import (
	"context"
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/throttled-go/throttled/algo"
	"github.com/throttled-go/throttled/internal/storeutil"
	"github.com/throttled-go/throttled/store"
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
			return nil, &algo.DataError{Name: "key func", Value: "nil", Reason: "WithKeyFunc needs a function"}
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
	return nil, &algo.DataError{Name: "key type", Value: typ.String(), Reason: "has no string encoding for this store; give typed.WithKeyFunc or implement fmt.Stringer"}
}

// encoded adapts a store of string keys to keys of type K.
type encoded[K comparable] struct {
	s   store.Store[string]
	enc func(K) (string, error)
}

func (e encoded[K]) key(k K) (string, error) {
	s, err := e.enc(k)
	if err != nil {
		return "", &algo.DataError{Name: "key", Value: storeutil.ShortKey(fmt.Sprint(k)), Reason: "cannot be encoded: " + err.Error()}
	}
	if s == "" {
		return "", &algo.DataError{Name: "key", Value: storeutil.ShortKey(fmt.Sprint(k)), Reason: "encodes to an empty string"}
	}
	return s, nil
}

// Decide implements store.Store: it decides on the string store under k's
// encoding.
func (e encoded[K]) Decide(ctx context.Context, k K, ps []*store.Policy, cost int64, each []algo.Decision) (algo.Decision, error) {
	s, err := e.key(k)
	if err != nil {
		return algo.Decision{}, err
	}
	return e.s.Decide(ctx, s, ps, cost, each)
}

// Reset implements store.Store under k's encoding.
func (e encoded[K]) Reset(ctx context.Context, k K, ps []*store.Policy) error {
	s, err := e.key(k)
	if err != nil {
		return err
	}
	return e.s.Reset(ctx, s, ps)
}

// DecideBatch decides a batch on the string store: in one call when it is a
// store.Batcher, else one request after another.
func (e encoded[K]) DecideBatch(ctx context.Context, ps []*store.Policy, reqs []store.Request[K], out, each []algo.Decision, errs []error) {
	n := len(ps)
	sreqs := make([]store.Request[string], len(reqs))
	for i, r := range reqs {
		sreqs[i].Key, errs[i] = e.key(r.Key)
		sreqs[i].Cost = r.Cost
	}
	// Requests whose key could not be encoded keep that error.
	storeutil.Subset(sreqs, out, each, n, errs, func(i int) error { return errs[i] },
		func(sreqs []store.Request[string], out, each []algo.Decision, errs []error) {
			if b, ok := e.s.(store.Batcher[string]); ok {
				b.DecideBatch(ctx, ps, sreqs, out, each, errs)
				return
			}
			for j, r := range sreqs {
				var ej []algo.Decision
				if each != nil {
					ej = each[j*n : (j+1)*n]
				}
				out[j], errs[j] = e.s.Decide(ctx, r.Key, ps, r.Cost, ej)
			}
		})
}

// Name returns the string store's name, for hooks.
func (e encoded[K]) Name() string { return storeName(e.s) }

// Clock returns the string store's clock, when it has one (store.Clocked).
func (e encoded[K]) Clock() store.Clock {
	if c, ok := e.s.(store.Clocked); ok {
		return c.Clock()
	}
	return nil
}
