// Command gen writes zconsts.s, the folding and Barrett constants of the
// amd64 and arm64 CRC64-ECMA code, derived from the polynomial by internal/consts.
//
//	go run ./internal/gen        (from the crc64ecma directory; go generate does it)
package main

import (
	"flag"
	"log"
	"os"

	"github.com/ossmount/ossmount/crc64ecma/internal/consts"
)

func main() {
	out := flag.String("o", "zconsts.s", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, consts.Asm(), 0o644); err != nil {
		log.Fatal(err)
	}
}
