module github.com/throttled-go/throttled/examples/mcp

go 1.26.0

replace (
	github.com/throttled-go/throttled => ../..
	github.com/throttled-go/throttled/contrib/mcpsdk => ../../contrib/mcpsdk
)

require (
	github.com/modelcontextprotocol/go-sdk v1.8.0
	github.com/throttled-go/throttled v0.0.0-00010101000000-000000000000
	github.com/throttled-go/throttled/contrib/mcpsdk v0.0.0-00010101000000-000000000000
)

require (
	github.com/google/jsonschema-go v0.4.3 // indirect
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/segmentio/encoding v0.5.4 // indirect
	github.com/yosida95/uritemplate/v3 v3.0.2 // indirect
	golang.org/x/oauth2 v0.35.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)
