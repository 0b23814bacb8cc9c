package oss

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"

	"github.com/ossmount/ossmount/store"
	"github.com/ossmount/ossmount/test/ossemu"
)

// stsProvider serves the emulator's temporary credentials; with renew set
// it is a Renewer that fetches new ones.
type stsProvider struct {
	emu    *ossemu.Server
	mu     sync.Mutex
	cur    ossemu.TemporaryCredentials
	renews int
}

func (p *stsProvider) GetCredentials(context.Context) (credentials.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return credentials.Credentials{AccessKeyID: p.cur.AccessKeyId, AccessKeySecret: p.cur.AccessKeySecret, SecurityToken: p.cur.SecurityToken}, nil
}

type renewingSTSProvider struct{ *stsProvider }

func (p renewingSTSProvider) Renew(context.Context, time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.renews++
	p.cur = p.emu.IssueTemporaryCredentials(time.Hour)
	return nil
}

// TestRefusedTokenRenewsAndRetriesOnce: a GET, HEAD or LIST refused with
// SecurityTokenExpired renews the credentials and is sent again once; a
// provider that cannot renew gets the refusal (EACCES).
func TestRefusedTokenRenewsAndRetriesOnce(t *testing.T) {
	emu := ossemu.New(ossemu.Options{})
	u, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	emu.CreateBucket("priv", false)
	emu.Put("priv", "k", []byte("hello"))
	base := &stsProvider{emu: emu, cur: emu.IssueTemporaryCredentials(time.Hour)}
	newStore := func(p credentials.CredentialsProvider) *Store {
		s, err := New(Config{Endpoint: u, Region: "cn-hangzhou", Bucket: "priv", Credentials: p, ReadTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	renewing := newStore(renewingSTSProvider{base})
	ops := map[string]func(*Store) error{
		"GET": func(s *Store) error {
			r, err := s.Get(ctx, store.GetRequest{Key: "k", End: -1})
			if err == nil {
				r.Body.Close()
			}
			return err
		},
		"HEAD": func(s *Store) error { _, err := s.Head(ctx, "k"); return err },
		"LIST": func(s *Store) error { _, err := s.List(ctx, "", "", 10); return err },
	}
	for name, op := range ops {
		emu.ExpireTemporaryCredentials()
		before := base.renews
		if err := op(renewing); err != nil {
			t.Errorf("%s after expiry: %v", name, err)
		}
		if base.renews != before+1 {
			t.Errorf("%s: %d renewals, want 1", name, base.renews-before)
		}
	}
	emu.ExpireTemporaryCredentials()
	if err := ops["HEAD"](newStore(base)); !errors.Is(err, store.ErrAccessDenied) {
		t.Fatalf("without renewal: %v, want access denied", err)
	}
}
