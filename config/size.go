package config

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// Binary size units: K = 1024.
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
	EiB
)

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": KiB, "kb": KiB, "kib": KiB,
	"m": MiB, "mb": MiB, "mib": MiB,
	"g": GiB, "gb": GiB, "gib": GiB,
	"t": TiB, "tb": TiB, "tib": TiB,
	"p": PiB, "pb": PiB, "pib": PiB,
	"e": EiB, "eb": EiB, "eib": EiB,
}

// ParseSize parses a byte count: a non-negative number, optionally with a
// fraction, and an optional binary unit (K, M, G, T, P, E, with or without
// B/iB, any case; K = 1024). "512", "64K", "1.5G" and "512MiB" are sizes.
// A fraction of a byte is dropped. The result fits in an int64.
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty size")
	}
	if s[0] == '-' {
		return 0, errors.New("must not be negative")
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, errors.New("not a size (use a number with an optional unit K, M, G or T, e.g. 64K, 1.5G)")
	}
	whole, frac, hasDot := strings.Cut(num, ".")
	if whole == "" || hasDot && frac == "" || strings.Contains(frac, ".") {
		return 0, errors.New("not a size (use a number with an optional unit K, M, G or T, e.g. 64K, 1.5G)")
	}
	if len(whole) > 40 || len(frac) > 40 {
		return 0, errors.New("too large")
	}
	// Exact arithmetic: (whole.frac × mult), rounded down.
	n, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return 0, errors.New("not a size")
	}
	n.Mul(n, big.NewInt(mult))
	n.Quo(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
	if !n.IsInt64() {
		return 0, errors.New("too large")
	}
	return n.Int64(), nil
}

// FormatSize renders n with the largest binary unit that divides it exactly
// ("10G", "1536M", "4097"), so that ParseSize(FormatSize(n)) == n.
func FormatSize(n int64) string {
	if n <= 0 {
		return strconv.FormatInt(n, 10)
	}
	for _, u := range []struct {
		s string
		m int64
	}{{"E", EiB}, {"P", PiB}, {"T", TiB}, {"G", GiB}, {"M", MiB}, {"K", KiB}} {
		if n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}
