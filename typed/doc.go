// Package typed is the rate limiter for keys of any comparable type:
// Limiter[K] with Limit (never blocks), Peek, Wait (wait and retry), Do
// (scoped call), Wrap (decorator) and Reset.
//
// With the memory store a Limiter[K] keys its table by K itself: no string
// is built and a decision allocates nothing. Other stores (Redis) key by
// string; K is encoded by WithKeyFunc when given, else by its kind: strings
// as they are, integers in decimal, then fmt.Stringer and
// encoding.TextMarshaler.
//
// The root package throttled is this package for string keys, with the
// seed's defaults.
package typed
