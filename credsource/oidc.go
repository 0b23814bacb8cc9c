package credsource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// OIDCConfig is what AssumeRoleWithOIDC needs (RRSA: a pod's service
// account token exchanged for a RAM role's temporary credentials).
type OIDCConfig struct {
	STSEndpoint     string // base URL, e.g. https://sts.aliyuncs.com
	RoleARN         string
	ProviderARN     string
	TokenFile       string // re-read at every fetch: the kubelet rotates it
	RoleSessionName string
	Duration        time.Duration // asked lifetime; STS may give less
}

// stsResponse is STS's JSON answer (Format=JSON), a success or an error.
type stsResponse struct {
	RequestId   string
	Code        string
	Message     string
	Credentials *struct {
		AccessKeyId     string
		AccessKeySecret string
		SecurityToken   string
		Expiration      time.Time
	}
}

// OIDCFetcher calls STS's AssumeRoleWithOIDC (API version 2015-04-01, an
// anonymous POST: the OIDC token is the proof) with the token file's
// current contents.
func OIDCFetcher(c OIDCConfig, client *http.Client) FetchFunc {
	return func(ctx context.Context) (credentials.Credentials, error) {
		tok, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return credentials.Credentials{}, fmt.Errorf("OIDC token file: %w", err)
		}
		if len(strings.TrimSpace(string(tok))) == 0 {
			return credentials.Credentials{}, fmt.Errorf("OIDC token file %s is empty", c.TokenFile)
		}
		q := url.Values{"Action": {"AssumeRoleWithOIDC"}, "Version": {"2015-04-01"}, "Format": {"JSON"},
			"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")}}
		form := url.Values{"RoleArn": {c.RoleARN}, "OIDCProviderArn": {c.ProviderARN}, "OIDCToken": {strings.TrimSpace(string(tok))},
			"RoleSessionName": {c.RoleSessionName}, "DurationSeconds": {strconv.Itoa(int(c.Duration.Seconds()))}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.STSEndpoint, "/")+"/?"+q.Encode(), strings.NewReader(form.Encode()))
		if err != nil {
			return credentials.Credentials{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return credentials.Credentials{}, fmt.Errorf("AssumeRoleWithOIDC: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBody))
		if err != nil {
			return credentials.Credentials{}, fmt.Errorf("AssumeRoleWithOIDC: %w", err)
		}
		var r stsResponse
		jerr := json.Unmarshal(b, &r)
		switch {
		case resp.StatusCode != http.StatusOK && jerr == nil && r.Code != "":
			return credentials.Credentials{}, fmt.Errorf("AssumeRoleWithOIDC: %s %s: %s (request id %s)", resp.Status, r.Code, r.Message, r.RequestId)
		case resp.StatusCode != http.StatusOK:
			return credentials.Credentials{}, fmt.Errorf("AssumeRoleWithOIDC: %s", resp.Status)
		case jerr != nil || r.Credentials == nil:
			return credentials.Credentials{}, fmt.Errorf("AssumeRoleWithOIDC: an answer without credentials (request id %s)", r.RequestId)
		}
		cr := r.Credentials
		if cr.AccessKeyId == "" || cr.AccessKeySecret == "" || cr.SecurityToken == "" {
			return credentials.Credentials{}, fmt.Errorf("AssumeRoleWithOIDC: incomplete credentials (request id %s)", r.RequestId)
		}
		exp := cr.Expiration
		return credentials.Credentials{AccessKeyID: cr.AccessKeyId, AccessKeySecret: cr.AccessKeySecret, SecurityToken: cr.SecurityToken, Expires: &exp}, nil
	}
}
