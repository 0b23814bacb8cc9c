package config

// Helpers only tests use.

// IsSet reports whether the user gave option name (e.g. "default_permissions")
// explicitly, on the command line, rather than it having its default, an
// environment fallback or a derived value.
func (c *Config) IsSet(name string) bool { return c.set[name] }
