package credsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// The ECS instance metadata service's paths and headers (hardened mode:
// every read carries a token from a PUT first, as IMDSv2).
const (
	ecsTokenPath    = "/latest/api/token"
	ecsCredsPath    = "/latest/meta-data/ram/security-credentials/"
	ecsTokenHeader  = "X-aliyun-ecs-metadata-token"
	ecsTTLHeader    = "X-aliyun-ecs-metadata-token-ttl-seconds"
	ecsTokenSeconds = 300 // the token serves one fetch
)

// maxMetadataBody bounds what is read of a metadata or STS answer.
const maxMetadataBody = 1 << 20

// ecsCredentials is the metadata service's answer for a role.
type ecsCredentials struct {
	Code            string
	AccessKeyId     string
	AccessKeySecret string
	SecurityToken   string
	Expiration      time.Time
}

// ECSFetcher fetches the temporary credentials of the instance's RAM role
// from the metadata service at endpoint (e.g. http://100.100.100.200), in
// hardened mode: a PUT gets a session token, and the reads send it. An
// empty role is asked of the service (the instance's only role).
func ECSFetcher(endpoint, role string, client *http.Client) FetchFunc {
	endpoint = strings.TrimSuffix(endpoint, "/")
	return func(ctx context.Context) (credentials.Credentials, error) {
		token, err := metadataCall(ctx, client, http.MethodPut, endpoint+ecsTokenPath, http.Header{ecsTTLHeader: {strconv.Itoa(ecsTokenSeconds)}})
		if err != nil {
			return credentials.Credentials{}, fmt.Errorf("metadata service token: %w", err)
		}
		h := http.Header{ecsTokenHeader: {string(token)}}
		name := role
		if name == "" {
			b, err := metadataCall(ctx, client, http.MethodGet, endpoint+ecsCredsPath, h)
			if err != nil {
				return credentials.Credentials{}, fmt.Errorf("RAM role of the instance: %w", err)
			}
			name, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			if name == "" {
				return credentials.Credentials{}, errors.New("the instance has no RAM role (set ram_role=)")
			}
		}
		b, err := metadataCall(ctx, client, http.MethodGet, endpoint+ecsCredsPath+name, h)
		if err != nil {
			return credentials.Credentials{}, fmt.Errorf("credentials of RAM role %q: %w", name, err)
		}
		var c ecsCredentials
		if err := json.Unmarshal(b, &c); err != nil {
			return credentials.Credentials{}, fmt.Errorf("credentials of RAM role %q: bad JSON from the metadata service", name)
		}
		if c.Code != "Success" || c.AccessKeyId == "" || c.AccessKeySecret == "" || c.SecurityToken == "" {
			return credentials.Credentials{}, fmt.Errorf("credentials of RAM role %q: the metadata service answered Code %q without credentials", name, c.Code)
		}
		exp := c.Expiration
		return credentials.Credentials{AccessKeyID: c.AccessKeyId, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken, Expires: &exp}, nil
	}
}

// metadataCall sends one request and returns the body of a 200 answer.
// Errors quote at most the start of a non-200 body (never a 200 one).
func metadataCall(ctx context.Context, client *http.Client, method, url string, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s%s", method, req.URL.Path, resp.Status, lastLine(string(b[:min(len(b), 200)])))
	}
	return b, nil
}
