//go:build race

package ossemu

const raceEnabled = true
