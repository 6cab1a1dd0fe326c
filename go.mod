module github.com/throttled-go/throttled

go 1.26.0

require (
	github.com/dave/jennifer v1.7.1
	github.com/redis/rueidis v1.0.79
	golang.org/x/sync v0.25.0
	pgregory.net/rapid v1.3.0
)

require golang.org/x/sys v0.47.0 // indirect
