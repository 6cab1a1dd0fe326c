package algo

//go:generate go run github.com/throttled-go/throttled/gen -root ..
