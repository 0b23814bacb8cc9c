package blockcache

import "github.com/ossmount/ossmount/checkpoint"

// Helpers only tests use.

// Version returns the object version.
func (o *Object) Version() checkpoint.Version { return o.v }

// crc64Combine returns the CRC64-ECMA of A‖B from crc(A), crc(B) and len(B).
func crc64Combine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	op := zeros(lenB)
	return op.times(crcA) ^ crcB
}
