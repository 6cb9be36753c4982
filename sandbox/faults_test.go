package sandbox

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestInjectFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sb.InjectFaults("POST /auth", Fault{Status: 503}, Fault{Status: 429, RetryAfter: "2"}, Fault{Delay: 30 * time.Millisecond})
	body := authRequest{AccessKey: testAccessKey, SecretKey: testSecretKey}
	if code, out := e.do("POST", "/auth", "", body); code != 503 || string(out) != `{"statusCode":503,"error":"Service Unavailable","message":"injected fault"}` {
		t.Errorf("first call: %d %s", code, out)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/data/v1/auth", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("second call: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	start := time.Now()
	if code, _ := e.do("POST", "/auth", "", body); code != 200 || time.Since(start) < 30*time.Millisecond {
		t.Errorf("delayed call: %d after %v", code, time.Since(start))
	}
	if code, _ := e.do("POST", "/auth", "", body); code != 200 {
		t.Errorf("after the script: %d", code)
	}

	e.sb.InjectFaults("GET /links/institutions", Fault{Hang: true})
	lr := e.link(e.accessToken(), map[string]any{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/data/v1/links/institutions", nil)
	req.Header.Set("Authorization", "Bearer "+lr.LinkToken)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Error("hanging call returned")
	}
}
