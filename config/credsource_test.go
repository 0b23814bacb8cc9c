package config

import (
	"strings"
	"testing"
)

func TestCredentialSourceOptions(t *testing.T) {
	asRoot(t)
	for _, tt := range []struct{ opts, want string }{
		{"credential_source=oidc", ""},
		{"credential_source=ecs_ram_role,ram_role=r,ecs_metadata_endpoint=http://127.0.0.1:9", ""},
		{"credential_process=/bin/creds --profile x,credential_timeout=3s", ""},
		{"credential_source=file", "needs credentials_file"},
		{"credential_source=process", "needs credential_process"},
		{"credential_source=anonymous,credentials_file=/f", "exclude each other"},
		{"anonymous,credential_source=env", "exclude each other"},
		{"sts_endpoint=sts.example.com", "sts_endpoint"},
		{"ecs_metadata_endpoint=ftp://x", "ecs_metadata_endpoint"},
	} {
		c, err := Parse([]string{"b12", "/m", "-o", ep + "," + tt.opts}, noEnv)
		if err == nil {
			err = c.Validate()
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.opts, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want an error naming %q", tt.opts, err, tt.want)
		}
	}
	for _, bad := range []string{"credential_source=vault", "credential_timeout=0"} {
		if _, err := Parse([]string{"b12", "/m", "-o", ep + "," + bad}, noEnv); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// The daemon's command line carries the options back.
	c, err := Parse([]string{"b12", "/m", "-o", ep + ",credential_process=/bin/creds a\\,b,ram_role=r"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(c.Args(), noEnv)
	if err != nil || c2.CredentialProcess != "/bin/creds a,b" || c2.RAMRole != "r" {
		t.Fatalf("Args round trip: %+v %v", c2, err)
	}
}
