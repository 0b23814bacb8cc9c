package credsource

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/ossmount/ossmount/config"
)

// New returns the provider of the source cfg picks
// (config.PickCredentialSource). A source that renews itself has fetched
// its first credentials when New returns, so a wrong setup fails here; it
// renews them until Close.
func New(ctx context.Context, cfg *config.Config, env func(string) string, log *slog.Logger) (Provider, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	timeout := cfg.CredentialTimeout
	if timeout <= 0 {
		timeout = config.DefaultCredentialTimeout
	}
	source := cfg.PickCredentialSource(env)
	switch source {
	case "":
		return nil, config.ErrNoCredentials
	case config.SourceAnonymous:
		return Static{Source: source}, nil
	case config.SourceFile:
		fp := config.NewFileProvider(cfg.CredentialsFile, cfg.Bucket)
		if _, err := fp.Get(); err != nil {
			return nil, err
		}
		return &File{fp: fp}, nil
	case config.SourceEnv:
		c, err := config.LoadEnvCredentials(env)
		if err != nil {
			return nil, err
		}
		return Static{Source: source, Creds: credentials.Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}}, nil
	case config.SourceProcess:
		if cfg.CredentialProcess == "" {
			return nil, fmt.Errorf("credential_source=%s needs credential_process=", source)
		}
		return NewRenewing(ctx, source, ProcessFetcher(cfg.CredentialProcess), timeout, log)
	case config.SourceECSRAMRole:
		role := cfg.RAMRole
		if role == "" {
			role = strings.TrimSpace(env(config.EnvECSMetadata))
		}
		endpoint := cfg.ECSMetadataEndpoint
		if endpoint == "" {
			endpoint = config.DefaultECSMetadataEndpoint
		}
		// The metadata service is link-local: never through a proxy.
		return NewRenewing(ctx, source, ECSFetcher(endpoint, role, httpClient(nil)), timeout, log)
	case config.SourceOIDC:
		oc, err := oidcConfig(cfg, env)
		if err != nil {
			return nil, err
		}
		return NewRenewing(ctx, source, OIDCFetcher(oc, httpClient(http.ProxyFromEnvironment)), timeout, log)
	}
	return nil, fmt.Errorf("unknown credential source %q", source)
}

// SDK returns what the OSS client is given for p: the SDK's own anonymous
// provider (which it recognizes and does not sign for) for anonymous.
func SDK(p Provider) credentials.CredentialsProvider {
	if s, ok := p.(Static); ok && s.Source == config.SourceAnonymous {
		return credentials.NewAnonymousCredentialsProvider()
	}
	return p
}

// Close stops p's background renewal, if it has one.
func Close(p Provider) {
	if r, ok := p.(*Renewing); ok {
		r.Close()
	}
}

func httpClient(proxy func(*http.Request) (*url.URL, error)) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = proxy
	return &http.Client{Transport: t}
}

// oidcConfig reads RRSA's environment (the variables Alibaba Cloud's
// webhook sets in a pod) and the STS endpoint.
func oidcConfig(cfg *config.Config, env func(string) string) (OIDCConfig, error) {
	oc := OIDCConfig{
		RoleARN: env(config.EnvRoleARN), ProviderARN: env(config.EnvOIDCProviderARN), TokenFile: env(config.EnvOIDCTokenFile),
		RoleSessionName: env(config.EnvRoleSessionName), Duration: time.Hour,
	}
	var missing []string
	for name, v := range map[string]string{config.EnvRoleARN: oc.RoleARN, config.EnvOIDCProviderARN: oc.ProviderARN, config.EnvOIDCTokenFile: oc.TokenFile} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return oc, fmt.Errorf("credential_source=oidc needs %s in the environment", strings.Join(missing, ", "))
	}
	if oc.RoleSessionName == "" {
		oc.RoleSessionName = "ossmount-" + strconv.FormatInt(time.Now().Unix(), 10)
	}
	oc.STSEndpoint = stsEndpoint(cfg.STSEndpoint, env)
	return oc, nil
}

// stsEndpoint is sts_endpoint=, else $ALIBABA_CLOUD_STS_ENDPOINT (a host or
// a URL), else the public endpoint of $ALIBABA_CLOUD_STS_REGION (its VPC
// one with $ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true), else the central one.
func stsEndpoint(opt string, env func(string) string) string {
	if opt != "" {
		return opt
	}
	if e := strings.TrimSpace(env(config.EnvSTSEndpoint)); e != "" {
		if !strings.Contains(e, "://") {
			e = "https://" + e
		}
		return e
	}
	prefix := "sts"
	if strings.EqualFold(env(config.EnvVPCEndpoint), "true") {
		prefix = "sts-vpc"
	}
	if r := strings.TrimSpace(env(config.EnvSTSRegion)); r != "" {
		return "https://" + prefix + "." + r + ".aliyuncs.com"
	}
	return "https://sts.aliyuncs.com"
}

// Static serves credentials that never change (the environment's), or
// none (anonymous).
type Static struct {
	Source string
	Creds  credentials.Credentials
}

// GetCredentials implements credentials.CredentialsProvider.
func (s Static) GetCredentials(context.Context) (credentials.Credentials, error) { return s.Creds, nil }

// Status implements Provider.
func (s Static) Status() Status { return Status{Source: s.Source} }

// File serves a credentials file's credentials, re-read when it changes.
type File struct{ fp *config.FileProvider }

// GetCredentials implements credentials.CredentialsProvider.
func (f *File) GetCredentials(context.Context) (credentials.Credentials, error) {
	c, err := f.fp.Get()
	if err != nil {
		return credentials.Credentials{}, err
	}
	return credentials.Credentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken}, nil
}

// Renew implements Renewer: the next Get looks at the file again.
func (f *File) Renew(context.Context, time.Time) error {
	f.fp.Recheck()
	return nil
}

// Status implements Provider.
func (f *File) Status() Status {
	s := Status{Source: config.SourceFile}
	if err := f.fp.LastError(); err != nil {
		s.LastErr = err.Error()
	}
	return s
}
