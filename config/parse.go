package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Parse parses the command line of the mount form (args excludes argv[0]):
//
//	[flags] BUCKET[:/PREFIX] MOUNTPOINT [flags]
//
// with -o key[=value],... anywhere and repeatable, long flags as --name VALUE
// or --name=VALUE, and -f (foreground). A later setting of an option wins.
// env looks up environment variables (os.Getenv; nil means none are set).
// Parse returns ErrHelp or ErrVersion when asked; its other errors are one
// line that names the bad option or argument. Cross-option checks are
// Validate's.
func Parse(args []string, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := defaults()
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			switch name {
			case "help":
				return nil, ErrHelp
			case "version":
				return nil, ErrVersion
			}
			next := func() (string, bool) {
				if i+1 < len(args) {
					i++
					return args[i], true
				}
				return "", false
			}
			if err := c.applyFlag(a, name, val, hasVal, next); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				switch ch := a[j]; ch {
				case 'h':
					return nil, ErrHelp
				case 'V':
					return nil, ErrVersion
				case 'f':
					c.Foreground, c.set["foreground"] = true, true
				case 'd':
					c.DebugFUSE, c.set["debug_fuse"] = true, true
					c.Foreground, c.set["foreground"] = true, true
				case 'r':
					c.ReadWrite = false // mount(8)'s -r: read-only
				case 'w':
					c.ReadWrite, c.set["rw"] = true, true // mount(8)'s -w
				case 's', 'n', 'v':
					// mount(8) helper flags (sloppy, no mtab, verbose): nothing to do.
				case 'o':
					opts := a[j+1:]
					if opts == "" {
						if i+1 >= len(args) {
							return nil, errors.New("-o needs a list of options")
						}
						i++
						opts = args[i]
					}
					if err := c.applyOptions(opts); err != nil {
						return nil, err
					}
					j = len(a)
				default:
					return nil, fmt.Errorf("unknown option %q", "-"+string(ch))
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	switch len(pos) {
	case 0:
		return nil, errors.New("missing BUCKET[:/PREFIX] and MOUNTPOINT (usage: ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT; see --help)")
	case 1:
		return nil, errors.New("missing MOUNTPOINT (usage: ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT; see --help)")
	case 2:
	default:
		return nil, fmt.Errorf("unexpected argument %q (usage: ossmount [flags] BUCKET[:/PREFIX] MOUNTPOINT; see --help)", pos[2])
	}
	var err error
	if c.Bucket, c.Prefix, err = ParseSource(pos[0]); err != nil {
		return nil, err
	}
	if pos[1] == "" || strings.IndexByte(pos[1], 0) >= 0 {
		return nil, fmt.Errorf("invalid mountpoint %q", pos[1])
	}
	if c.Mountpoint, err = filepath.Abs(pos[1]); err != nil {
		return nil, fmt.Errorf("mountpoint %q: %v", pos[1], err)
	}
	c.finish(env)
	return c, nil
}

// applyFlag applies the long flag arg (--name[=val]); next takes the
// following argument as the value of a non-boolean flag.
func (c *Config) applyFlag(arg, name, val string, hasVal bool, next func() (string, bool)) error {
	key := strings.ReplaceAll(name, "-", "_")
	switch key {
	case "read_only":
		key = "ro"
	case "read_write":
		key = "rw"
	}
	o := optionByName[key]
	if o == nil {
		if b := negatedBool(key); b != nil {
			if hasVal {
				return fmt.Errorf("option %s takes no value", arg)
			}
			return c.setBool(b, false)
		}
		return fmt.Errorf("unknown option %q", "--"+name)
	}
	if o.kind == kindBool {
		return c.applyBool(o, val, hasVal)
	}
	if !hasVal {
		v, ok := next()
		if !ok {
			return fmt.Errorf("option %s needs a value (%s %s)", arg, o.flagName(), o.arg)
		}
		val = v
	}
	return c.setValue(o, val)
}

// negatedBool returns the boolean option that key turns off ("no_NAME" or
// "noNAME"), or nil.
func negatedBool(key string) *option {
	for _, p := range []string{"no_", "no"} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			if o := optionByName[rest]; o != nil && o.kind == kindBool && o.name != "ro" {
				return o
			}
		}
	}
	return nil
}

// applyOptions applies one -o argument: comma-separated key[=value]
// elements, with "\," standing for a comma and "\\" for a backslash.
func (c *Config) applyOptions(s string) error {
	for _, el := range splitOptions(s) {
		el = strings.TrimLeft(el, " \t")
		if el == "" {
			continue
		}
		key, val, hasVal := strings.Cut(el, "=")
		key = strings.TrimSpace(key)
		if !hasVal {
			el = key
		}
		if err := c.applyOption(el, key, val, hasVal); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) applyOption(el, key, val string, hasVal bool) error {
	if isIgnored(key) {
		return nil
	}
	o := optionByName[key]
	if o == nil {
		o = optionByName[strings.ReplaceAll(key, "-", "_")]
	}
	if o == nil {
		if b := negatedBool(strings.ReplaceAll(key, "-", "_")); b != nil {
			if hasVal {
				return fmt.Errorf("option %s takes no value", key)
			}
			return c.setBool(b, false)
		}
		if key == "" {
			return fmt.Errorf("invalid option %q", el)
		}
		return fmt.Errorf("unknown option %q", key)
	}
	if o.kind == kindBool {
		return c.applyBool(o, val, hasVal)
	}
	if !hasVal {
		return fmt.Errorf("option %s needs a value (%s=%s)", o.name, o.name, o.arg)
	}
	return c.setValue(o, val)
}

// applyBool sets a bool option given as "opt" (true) or "opt=VALUE".
func (c *Config) applyBool(o *option, val string, hasVal bool) error {
	if !hasVal {
		return c.setBool(o, true)
	}
	b, err := parseBool(val)
	if err != nil {
		return badValue(o.name, val, err.Error())
	}
	return c.setBool(o, b)
}

func (c *Config) setBool(o *option, b bool) error {
	if err := o.setBool(c, b); err != nil {
		return err
	}
	c.set[o.name] = true
	return nil
}

func (c *Config) setValue(o *option, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return badValue(o.name, v, "contains a NUL byte")
	}
	if v == "" && !o.emptyOK {
		return fmt.Errorf("option %s needs a value (%s=%s)", o.name, o.name, o.arg)
	}
	if err := o.set(c, v); err != nil {
		return err
	}
	c.set[o.name] = true
	return nil
}

// splitOptions splits an -o argument at unescaped commas.
func splitOptions(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case s[i] == ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}

func escapeOption(v string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`).Replace(v)
}

// finish fills in environment fallbacks and derived values.
func (c *Config) finish(env func(string) string) {
	if !c.set["endpoint"] {
		c.Endpoint = env("OSS_ENDPOINT")
	}
	c.Endpoint = normalizeEndpoint(c.Endpoint)
	if !c.set["region"] {
		c.Region = env("OSS_REGION")
	}
	host := endpointHost(c.Endpoint)
	if c.Region == "" {
		c.Region = RegionFromEndpoint(host)
	}
	if PathStyleHost(host) {
		c.PathStyle = true
	}
	if c.CacheDir == "" { // not given, or given empty: the default
		c.CacheDir = DefaultCacheDir(env)
	}
	if !c.set["uid"] {
		c.UID = uint32(getuid())
	}
	if !c.set["gid"] {
		c.GID = uint32(getgid())
	}
	if !c.set["file_mode"] {
		c.FileMode = 0o444 &^ c.Umask
		if c.ReadWrite {
			c.FileMode = 0o644 &^ c.Umask
		}
	}
	if !c.set["dir_mode"] {
		c.DirMode = 0o555 &^ c.Umask
		if c.ReadWrite {
			c.DirMode = 0o755 &^ c.Umask
		}
	}
	if c.AllowOther && !c.set["default_permissions"] {
		c.DefaultPermissions = true
	}
}
