package klavi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// consentServer answers GET /consents/{id} with the golden consent when the Authorization header carries a
// token accepted by ok (nil: any), else 401.
func consentServer(t *testing.T, ok func(auth string) bool) http.HandlerFunc {
	body := golden(t, "consent.json")
	unauthorized := golden(t, "error_401.json")
	return func(w http.ResponseWriter, r *http.Request) {
		if ok != nil && !ok(r.Header.Get("Authorization")) {
			writeJSON(w, http.StatusUnauthorized, unauthorized)
			return
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func countPath(reqs []recorded, path string) int {
	n := 0
	for _, r := range reqs {
		if r.Path == path {
			n++
		}
	}
	return n
}

func TestTheAccessTokenIsFetchedLazilyAndCached(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, nil))
	c := f.client(t, WithNow(newClock().Now))
	if got := f.authCalls.Load(); got != 0 {
		t.Fatalf("got %d /auth calls after New, want 0 (lazy)", got)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Consent(context.Background(), "c-1"); err != nil {
			t.Fatalf("Consent: %v", err)
		}
	}
	if got := f.authCalls.Load(); got != 1 {
		t.Errorf("got %d /auth calls for 5 calls, want 1", got)
	}
}

func TestTheTokenIsRefreshedAheadOfExpiry(t *testing.T) {
	t.Parallel()
	clock := newClock()
	f := newFake(t, consentServer(t, nil))
	c := f.client(t, WithNow(clock.Now))
	ctx := context.Background()
	if _, err := c.Consent(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}

	t.Run("at expiry minus 121 s the cached token is still used", func(t *testing.T) {
		clock.Advance(1800*time.Second - 121*time.Second)
		if _, err := c.Consent(ctx, "c-1"); err != nil {
			t.Fatal(err)
		}
		if got := f.refreshCalls.Load(); got != 0 {
			t.Errorf("got %d refreshes, want 0", got)
		}
	})
	t.Run("at expiry minus 119 s one refresh happens and its token is used", func(t *testing.T) {
		clock.Advance(2 * time.Second)
		if _, err := c.Consent(ctx, "c-1"); err != nil {
			t.Fatal(err)
		}
		if got := f.refreshCalls.Load(); got != 1 {
			t.Errorf("got %d refreshes, want 1", got)
		}
		if got := f.authCalls.Load(); got != 1 {
			t.Errorf("got %d /auth calls, want still 1", got)
		}
		calls := f.calls()
		if got, want := calls[len(calls)-1].Auth, "Bearer refreshed-token"; got != want {
			t.Errorf("got Authorization %q, want %q", got, want)
		}
	})
	t.Run("a fully expired token is replaced with /auth, not refreshed", func(t *testing.T) {
		clock.Advance(2 * time.Hour)
		if _, err := c.Consent(ctx, "c-1"); err != nil {
			t.Fatal(err)
		}
		if got := f.refreshCalls.Load(); got != 1 {
			t.Errorf("got %d refreshes, want 1 (no refresh of an expired token)", got)
		}
		if got := f.authCalls.Load(); got != 2 {
			t.Errorf("got %d /auth calls, want 2", got)
		}
	})
}

func TestAFailedRefreshFallsBackToAuth(t *testing.T) {
	t.Parallel()
	clock := newClock()
	f := newFake(t, consentServer(t, nil))
	f.set(func(f *fakeKlavi) {
		f.refresh = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusUnauthorized, golden(t, "error_401.json"))
		}
	})
	c := f.client(t, WithNow(clock.Now))
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1750 * time.Second)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatalf("got %v, want the call to succeed with a token from /auth", err)
	}
	if got, want := f.refreshCalls.Load(), int32(1); got != want {
		t.Errorf("got %d refreshes, want %d", got, want)
	}
	if got, want := f.authCalls.Load(), int32(2); got != want {
		t.Errorf("got %d /auth calls, want %d", got, want)
	}
}

func TestExpireInIsDecodedFromANumberOrAString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want time.Duration
	}{
		{`{"accessToken":"t1","expireIn":1800}`, 1800 * time.Second},
		{`{"accessToken":"t1","expireIn":"1800"}`, 1800 * time.Second},
		{`{"accessToken":"t1","expireIn":"600"}`, 600 * time.Second},
		{`{"accessToken":"t1"}`, defaultTokenLifetime},
	} {
		t.Run(tc.body, func(t *testing.T) {
			clock := newClock()
			f := newFake(t, consentServer(t, nil))
			f.set(func(f *fakeKlavi) { f.authBody = func(int32) []byte { return []byte(tc.body) } })
			c := f.client(t, WithNow(clock.Now))
			if _, err := c.Consent(context.Background(), "c-1"); err != nil {
				t.Fatal(err)
			}
			if got, want := c.tokExpiresAt.Sub(clock.Now()), tc.want; got != want {
				t.Errorf("got lifetime %v, want %v", got, want)
			}
		})
	}
}

func TestAnAuthAnswerWithoutATokenIsAnError(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, nil))
	f.set(func(f *fakeKlavi) { f.authBody = func(int32) []byte { return []byte(`{"expireIn":1800}`) } })
	c := f.client(t)
	if _, err := c.Consent(context.Background(), "c-1"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("got %v, want ErrBadResponse", err)
	}
}

func TestOneHundredColdCallersCauseExactlyOneAuth(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, nil))
	f.set(func(f *fakeKlavi) { f.authDelay = 50 * time.Millisecond })
	c := f.client(t, WithNow(newClock().Now))
	var wg sync.WaitGroup
	var failures atomic.Int32
	start := make(chan struct{})
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.Consent(context.Background(), "c-1"); err != nil {
				failures.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := f.authCalls.Load(); got != 1 {
		t.Errorf("got %d /auth calls, want exactly 1", got)
	}
	if got := failures.Load(); got != 0 {
		t.Errorf("got %d failed calls, want 0", got)
	}
	if got := countPath(f.all(), "/data/v1/consents/c-1"); got != 100 {
		t.Errorf("got %d consent calls, want 100", got)
	}
}

func TestOneHundredCallersAtTheRefreshBoundaryCauseExactlyOneRefresh(t *testing.T) {
	t.Parallel()
	clock := newClock()
	f := newFake(t, consentServer(t, nil))
	f.set(func(f *fakeKlavi) {
		f.refresh = func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(50 * time.Millisecond)
			writeJSON(w, http.StatusOK, []byte(`{"accessToken":"refreshed-token","expireIn":1800}`))
		}
	})
	c := f.client(t, WithNow(clock.Now))
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1800*time.Second - 119*time.Second)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.Consent(context.Background(), "c-1"); err != nil {
				t.Errorf("Consent: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := f.refreshCalls.Load(); got != 1 {
		t.Errorf("got %d refreshes, want exactly 1", got)
	}
	if got := f.authCalls.Load(); got != 1 {
		t.Errorf("got %d /auth calls, want 1", got)
	}
}

func TestACallerGivingUpDoesNotFailTheSharedTokenFetch(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, nil))
	f.set(func(f *fakeKlavi) { f.authDelay = 80 * time.Millisecond })
	c := f.client(t)
	impatient, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := c.Consent(impatient, "c-1"); errc <- err }()
	time.Sleep(2 * time.Millisecond)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Errorf("patient caller: got %v, want success", err)
	}
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient caller: got %v, want a deadline error", err)
	}
	if got := f.authCalls.Load(); got != 1 {
		t.Errorf("got %d /auth calls, want 1", got)
	}
}

func TestA401ForcesOneReauthenticationAndOneRetry(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, func(auth string) bool { return auth == "Bearer token-2" }))
	f.set(func(f *fakeKlavi) {
		f.authBody = func(n int32) []byte { return []byte(fmt.Sprintf(`{"accessToken":"token-%d","expireIn":1800}`, n)) }
	})
	c := f.client(t)
	got, err := c.Consent(context.Background(), "c-1")
	if err != nil {
		t.Fatalf("got %v, want success after one re-authentication", err)
	}
	if got.Status != StatusAuthorised {
		t.Errorf("got status %q, want AUTHORISED", got.Status)
	}
	if n := f.authCalls.Load(); n != 2 {
		t.Errorf("got %d /auth calls, want 2", n)
	}
	if n := f.refreshCalls.Load(); n != 0 {
		t.Errorf("got %d refreshes, want 0 (a rejected token is not refreshed)", n)
	}
	calls := f.calls()
	if len(calls) != 2 || calls[0].Auth != "Bearer token-1" || calls[1].Auth != "Bearer token-2" {
		t.Errorf("got calls %+v, want token-1 then token-2", calls)
	}
}

func TestTwo401sAreAnErrorWithoutAThirdTry(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, func(string) bool { return false }))
	c := f.client(t)
	_, err := c.Consent(context.Background(), "c-1")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v, want ErrUnauthorized", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 401 || ae.Code != 401 || ae.ErrorText != "Unauthorized" ||
		ae.Message != "Invalid accessKey or secretKey" {
		t.Errorf("got %#v, want the decoded golden 401 body", ae)
	}
	if n := len(f.calls()); n != 2 {
		t.Errorf("got %d consent calls, want 2", n)
	}
	if n := f.authCalls.Load(); n != 2 {
		t.Errorf("got %d /auth calls, want 2", n)
	}
}

func TestA401OnANonIdempotentCallIsStillRetriedOnce(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			writeJSON(w, http.StatusUnauthorized, golden(t, "error_401.json"))
			return
		}
		writeJSON(w, http.StatusOK, golden(t, "link.json"))
	})
	c := f.client(t)
	if _, err := c.CreateLink(context.Background(), LinkRequest{}); err != nil {
		t.Fatalf("got %v, want success (a 401 means nothing was created)", err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("got %d POST /links, want 2", got)
	}
}

func TestBadKeysFailOnceWithoutLooping(t *testing.T) {
	t.Parallel()
	f := newFake(t, consentServer(t, nil))
	f.set(func(f *fakeKlavi) { f.authStatus = http.StatusUnauthorized })
	c := f.client(t)
	_, err := c.Consent(context.Background(), "c-1")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v, want ErrUnauthorized", err)
	}
	if got := f.authCalls.Load(); got != 1 {
		t.Errorf("got %d /auth calls, want 1 (no retry, no loop)", got)
	}
	if got := len(f.calls()); got != 0 {
		t.Errorf("got %d API calls, want 0", got)
	}
	if strings.Contains(err.Error(), testSecretKey) || strings.Contains(err.Error(), testAccessKey) {
		t.Errorf("error %q contains a key", err)
	}
}

func TestA401WithALinkTokenIsReturnedWithoutReauthenticating(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusUnauthorized, []byte(`{"statusCode":401,"error":"Unauthorized","message":"link token expired"}`))
	})
	c := f.client(t)
	if _, err := c.Institutions(context.Background(), goldenLinkToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("got %v, want ErrUnauthorized", err)
	}
	if got := f.authCalls.Load(); got != 0 {
		t.Errorf("got %d /auth calls, want 0", got)
	}
	if got := len(f.calls()); got != 1 {
		t.Errorf("got %d calls, want 1", got)
	}
}

func TestAFailedRenewalKeepsUsingTheStillValidToken(t *testing.T) {
	t.Parallel()
	clock := newClock()
	f := newFake(t, consentServer(t, nil))
	c := f.client(t, WithNow(clock.Now))
	recordSleeps(c)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *fakeKlavi) {
		f.refresh = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusServiceUnavailable, nil) }
		f.authStatus = http.StatusServiceUnavailable
	})
	clock.Advance(1750 * time.Second)
	if _, err := c.Consent(context.Background(), "c-1"); err != nil {
		t.Fatalf("got %v, want the call to go through with the old, still valid token", err)
	}
	calls := f.calls()
	if got, want := calls[len(calls)-1].Auth, "Bearer "+goldenAccessToken; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	clock.Advance(100 * time.Second)
	if _, err := c.Consent(context.Background(), "c-1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("after expiry: got %v, want ErrUnavailable", err)
	}
}
