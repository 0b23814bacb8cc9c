package main

import "github.com/ossmount/ossmount/csi"

// runCSI runs `ossmount csi ...`, the CSI driver (package csi), when args
// name it, and reports whether they did.
func runCSI(args []string) (exitCode int, ok bool) {
	if len(args) == 0 || args[0] != "csi" || !csi.IsCommandLine(args[1:]) {
		return 0, false
	}
	return csi.Main(args[1:], version), true
}
