module github.com/throttled-go/throttled/contrib/mcpgo

go 1.26.0

replace github.com/throttled-go/throttled => ../..

require (
	github.com/mark3labs/mcp-go v1.2.1
	github.com/throttled-go/throttled v0.0.0-00010101000000-000000000000
)

require (
	github.com/google/jsonschema-go v0.4.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/redis/rueidis v1.0.79 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.2 // indirect
	github.com/spf13/cast v1.7.1 // indirect
	github.com/yosida95/uritemplate/v3 v3.0.2 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
