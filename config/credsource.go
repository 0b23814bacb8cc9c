package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Credential sources, in the order an unforced mount tries them: options
// given on the command line first (anonymous, credentials_file,
// credential_process, ram_role), then the environment (OSS_ACCESS_KEY_ID,
// the RRSA variables of a pod, ALIBABA_CLOUD_ECS_METADATA).
const (
	SourceAnonymous  = "anonymous"
	SourceFile       = "file"
	SourceProcess    = "process"
	SourceECSRAMRole = "ecs_ram_role"
	SourceEnv        = "env"
	SourceOIDC       = "oidc"
)

// CredentialSources lists the sources in order of precedence.
var CredentialSources = []string{SourceAnonymous, SourceFile, SourceProcess, SourceECSRAMRole, SourceEnv, SourceOIDC}

// Environment variables of the sources that renew themselves (the names
// Alibaba Cloud's SDKs and its CSI driver use).
const (
	EnvRoleARN         = "ALIBABA_CLOUD_ROLE_ARN"
	EnvOIDCProviderARN = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
	EnvOIDCTokenFile   = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"
	EnvRoleSessionName = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
	EnvSTSEndpoint     = "ALIBABA_CLOUD_STS_ENDPOINT"
	EnvSTSRegion       = "ALIBABA_CLOUD_STS_REGION"
	EnvVPCEndpoint     = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"
	EnvECSMetadata     = "ALIBABA_CLOUD_ECS_METADATA" // the RAM role's name
)

// Defaults of the credential options.
const (
	DefaultCredentialTimeout   = 15 * time.Second
	DefaultECSMetadataEndpoint = "http://100.100.100.200"
)

// validateCredentialSource checks credential_source and the endpoints of
// the self-renewing sources.
func (c *Config) validateCredentialSource() error {
	switch c.CredentialSource {
	case "":
	case SourceAnonymous:
		if c.CredentialsFile != "" {
			return fmt.Errorf("options credential_source=%s and credentials_file exclude each other", c.CredentialSource)
		}
	case SourceFile:
		if c.CredentialsFile == "" {
			return fmt.Errorf("credential_source=%s needs credentials_file=", c.CredentialSource)
		}
	case SourceProcess:
		if c.CredentialProcess == "" {
			return fmt.Errorf("credential_source=%s needs credential_process=", c.CredentialSource)
		}
	case SourceECSRAMRole, SourceEnv, SourceOIDC:
	default:
		return fmt.Errorf("credential_source %q must be one of %s", c.CredentialSource, strings.Join(CredentialSources, ", "))
	}
	if c.Anonymous && c.CredentialSource != "" && c.CredentialSource != SourceAnonymous {
		return fmt.Errorf("options anonymous and credential_source=%s exclude each other", c.CredentialSource)
	}
	for name, v := range map[string]string{"ecs_metadata_endpoint": c.ECSMetadataEndpoint, "sts_endpoint": c.STSEndpoint} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s %q must be an http:// or https:// URL", name, v)
		}
	}
	if c.CredentialTimeout < 0 {
		return fmt.Errorf("credential_timeout must not be negative")
	}
	return nil
}

// PickCredentialSource returns the source a mount uses: CredentialSource
// when set, else the first configured one in CredentialSources order. env
// looks up environment variables. "" means none is configured.
func (c *Config) PickCredentialSource(env func(string) string) string {
	if c.CredentialSource != "" {
		return c.CredentialSource
	}
	if env == nil {
		env = func(string) string { return "" }
	}
	switch {
	case c.Anonymous:
		return SourceAnonymous
	case c.CredentialsFile != "":
		return SourceFile
	case c.CredentialProcess != "":
		return SourceProcess
	case c.RAMRole != "":
		return SourceECSRAMRole
	case env(EnvAccessKeyID) != "" || env(EnvAccessKeySecret) != "":
		return SourceEnv
	case env(EnvRoleARN) != "" && env(EnvOIDCProviderARN) != "" && env(EnvOIDCTokenFile) != "":
		return SourceOIDC
	case env(EnvECSMetadata) != "":
		return SourceECSRAMRole
	}
	return ""
}

// credentialOptions are the -o options of the credential sources.
var credentialOptions = []*option{
	{name: "credential_source", kind: kindEnum, arg: strings.Join(CredentialSources, "|"), def: "the first configured, in this order", group: groupConn, emptyOK: true,
		help: "use this credential source only (see Credentials below)",
		set: func(c *Config, v string) error {
			for _, s := range CredentialSources {
				if v == s || v == "" {
					c.CredentialSource = v
					return nil
				}
			}
			return badValue("credential_source", v, "must be one of "+strings.Join(CredentialSources, ", "))
		}, get: getString(func(c *Config) *string { return &c.CredentialSource })},
	{name: "credential_process", kind: kindString, arg: "COMMAND", def: "none", group: groupConn, emptyOK: true,
		help: `shell command (run by /bin/sh in /) printing {"AccessKeyId","AccessKeySecret","SecurityToken","Expiration"} as JSON; run again before Expiration`,
		set:  stringOpt(func(c *Config) *string { return &c.CredentialProcess }), get: getString(func(c *Config) *string { return &c.CredentialProcess })},
	{name: "ram_role", kind: kindString, arg: "NAME", def: "$" + EnvECSMetadata + ", else asked of the metadata service", group: groupConn, emptyOK: true,
		help: "RAM role of the ECS instance: temporary credentials from the instance metadata service (token-protected), renewed before they expire",
		set:  stringOpt(func(c *Config) *string { return &c.RAMRole }), get: getString(func(c *Config) *string { return &c.RAMRole })},
	{name: "ecs_metadata_endpoint", kind: kindString, arg: "URL", def: DefaultECSMetadataEndpoint, group: groupConn,
		help: "base URL of the ECS instance metadata service",
		set:  stringOpt(func(c *Config) *string { return &c.ECSMetadataEndpoint }), get: getString(func(c *Config) *string { return &c.ECSMetadataEndpoint })},
	{name: "sts_endpoint", kind: kindString, arg: "URL", def: "$" + EnvSTSEndpoint + ", else https://sts.aliyuncs.com (sts.$" + EnvSTSRegion + ".aliyuncs.com when set)", group: groupConn, emptyOK: true,
		help: "STS endpoint for RRSA (AssumeRoleWithOIDC)",
		set:  stringOpt(func(c *Config) *string { return &c.STSEndpoint }), get: getString(func(c *Config) *string { return &c.STSEndpoint })},
	{name: "credential_timeout", kind: kindDuration, arg: "DURATION", def: DefaultCredentialTimeout.String(), group: groupConn,
		help: "bound of one fetch of credentials (metadata service, STS, credential_process)",
		set:  durationOpt("credential_timeout", func(c *Config) *time.Duration { return &c.CredentialTimeout }, true), get: getDuration(func(c *Config) *time.Duration { return &c.CredentialTimeout })},
}

// init lists the credential options after credentials_file, in --help
// order.
func init() {
	for i, o := range options {
		if o.name == "credentials_file" {
			options = slices.Insert(options, i+1, credentialOptions...)
			break
		}
	}
	for _, o := range credentialOptions {
		optionByName[o.name] = o
	}
}
