package oss

import (
	"context"
	"errors"
	"time"

	sdk "github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// Renewer is a credentials provider that can fetch its credentials again
// (credsource.Renewer): the store asks it to when OSS refuses them.
type Renewer interface {
	// Renew makes sure the credentials were fetched after since.
	Renew(ctx context.Context, since time.Time) error
}

// refusedCredentials are the codes OSS answers a request with whose
// temporary credentials have expired or been replaced.
var refusedCredentials = map[string]bool{
	"SecurityTokenExpired": true,
	"InvalidSecurityToken": true,
	"InvalidAccessKeyId":   true,
}

// credentialsRefused returns the error code when err is OSS refusing the
// request's credentials, "" otherwise.
func credentialsRefused(err error) string {
	var se *sdk.ServiceError
	if errors.As(err, &se) && refusedCredentials[se.Code] {
		return se.Code
	}
	return ""
}

// withRenewal runs call once; when OSS refuses its credentials and the
// provider can renew them, it renews them and runs call once more. A
// renewal another request already made since call started is not repeated.
func withRenewal[T any](ctx context.Context, s *Store, op, key string, call func() (T, error)) (T, error) {
	t0 := time.Now()
	v, err := call()
	code := credentialsRefused(err)
	if code == "" || s.renewer == nil {
		return v, err
	}
	if rerr := s.renewer.Renew(ctx, t0); rerr != nil {
		s.log.Warn("OSS refused the credentials and renewing them failed", "op", op, "key", key, "code", code, "err", rerr)
		return v, err
	}
	s.log.Info("OSS refused the credentials; renewed them, retrying", "op", op, "key", key, "code", code)
	return call()
}
