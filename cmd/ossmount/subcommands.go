package main

// runSubcommand runs `ossmount stats|warm|cache ...` when args name one, and
// reports whether it did; otherwise args are a mount command line.
func runSubcommand(args []string) (exitCode int, ok bool) {
	return 0, false
}
