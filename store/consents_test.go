package store

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

func TestLinks(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		l1 := Link{ID: "link-1", SessionID: "sess", PersonType: "personal", PersonalTaxID: "52998224725",
			Email: "a@example.com", Phone: "+5511999999999", LinkToken: "tok-1", TokenExpiresAt: t0.Add(30 * time.Minute)}
		if err := s.CreateLink(ctx, l1); err != nil {
			t.Fatalf("CreateLink: %v", err)
		}
		t.Run("round trip", func(t *testing.T) {
			got, err := s.Link(ctx, "link-1")
			if err != nil {
				t.Fatal(err)
			}
			want := l1
			want.CreatedAt = t0
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Link = %+v\nwant %+v", got, want)
			}
		})
		t.Run("duplicate id is a conflict", func(t *testing.T) {
			err := s.CreateLink(ctx, Link{ID: "link-1", SessionID: "other"})
			if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "store: create link: ") {
				t.Errorf("got %v, want ErrConflict wrapped as store: create link", err)
			}
		})
		t.Run("not found", func(t *testing.T) {
			if _, err := s.Link(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("got %v, want ErrNotFound", err)
			}
			if _, err := s.LatestLinkForSession(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("got %v, want ErrNotFound", err)
			}
		})
		t.Run("latest for session", func(t *testing.T) {
			c.Advance(time.Second)
			if err := s.CreateLink(ctx, Link{ID: "link-2", SessionID: "sess", PersonType: "business"}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateLink(ctx, Link{ID: "link-3", SessionID: "other"}); err != nil {
				t.Fatal(err)
			}
			got, err := s.LatestLinkForSession(ctx, "sess")
			if err != nil || got.ID != "link-2" || !got.CreatedAt.Equal(t0.Add(time.Second)) {
				t.Errorf("LatestLinkForSession = %q at %v, %v; want link-2", got.ID, got.CreatedAt, err)
			}
		})
		t.Run("empty id refused", func(t *testing.T) {
			if err := s.CreateLink(ctx, Link{}); err == nil {
				t.Error("CreateLink with empty id succeeded")
			}
		})
	})
}

func fullConsent() Consent {
	cb := t0.Add(-time.Minute)
	req := t0.Add(-30 * time.Second)
	next := t0.Add(time.Minute)
	return Consent{ID: "consent-1", LinkID: "link-1", SessionID: "sess", TrackIDHash: "abc123",
		PersonType: "personal", PersonalTaxID: "52998224725", BusinessTaxID: "", HolderRef: "0123456789abcdef0123456789abcdef",
		InstitutionCode: "001",
		InstitutionName: "Banco do Brasil", ValidityPeriod: 12, Status: "AWAITING_AUTHORISATION",
		PermissionsApply: []string{"ACCOUNTS_READ", "CREDIT_CARDS_ACCOUNTS_READ"}, PermissionsGranted: nil,
		ExpireAt: "2027-11-25T10:00:00Z", ErrorCode: "", ErrorDescription: "", CallbackAt: &cb,
		ReportsRequestedAt: &req, ReportRequestID: "req-1", NextPollAt: &next, PollAttempts: 2,
		CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour)}
}

func TestCreateConsentAndRead(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		want := fullConsent()
		if err := s.CreateConsent(ctx, want); err != nil {
			t.Fatalf("CreateConsent: %v", err)
		}
		got, err := s.Consent(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Consent =\n%+v\nwant\n%+v", got, want)
		}

		t.Run("defaults", func(t *testing.T) {
			if err := s.CreateConsent(ctx, Consent{ID: "bare"}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Consent(ctx, "bare")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != "STARTED" || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) ||
				got.CallbackAt != nil || got.NextPollAt != nil || got.PermissionsApply != nil {
				t.Errorf("defaults: %+v", got)
			}
		})
		t.Run("duplicate id is a conflict", func(t *testing.T) {
			c := fullConsent()
			c.TrackIDHash = "other"
			if err := s.CreateConsent(ctx, c); !errors.Is(err, ErrConflict) {
				t.Errorf("got %v, want ErrConflict", err)
			}
		})
		t.Run("duplicate track hash is a conflict", func(t *testing.T) {
			c := fullConsent()
			c.ID = "consent-2"
			if err := s.CreateConsent(ctx, c); !errors.Is(err, ErrConflict) {
				t.Errorf("got %v, want ErrConflict", err)
			}
		})
		t.Run("empty track hashes do not clash", func(t *testing.T) {
			for _, id := range []string{"no-track-1", "no-track-2"} {
				if err := s.CreateConsent(ctx, Consent{ID: id}); err != nil {
					t.Errorf("CreateConsent(%s): %v", id, err)
				}
			}
		})
		t.Run("not found", func(t *testing.T) {
			_, err := s.Consent(ctx, "nope")
			if !errors.Is(err, ErrNotFound) || err.Error() != "store: consent: store: not found" {
				t.Errorf("got %v, want ErrNotFound", err)
			}
		})
	})
}

func TestConsentLists(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		seed := []Consent{
			{ID: "a", SessionID: "s1", PersonalTaxID: "52998224725", HolderRef: "ref-ana", Status: "AUTHORISED"},
			{ID: "b", SessionID: "s1", BusinessTaxID: "12ABC34501DE35", PersonalTaxID: "11144477735", HolderRef: "ref-co",
				Status: "REJECTED"},
			{ID: "c", SessionID: "s2", PersonalTaxID: "52998224725", HolderRef: "ref-ana", Status: "REJECTED"},
			{ID: "d", SessionID: "s1", BusinessTaxID: "52998224725", HolderRef: "ref-ana", Status: "AUTHORISED"},
		}
		for _, cs := range seed {
			if err := s.CreateConsent(ctx, cs); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		ids := func(cs []Consent) string {
			var out []string
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return strings.Join(out, ",")
		}
		tests := []struct {
			name string
			f    ConsentFilter
			want string
		}{
			{"all newest first", ConsentFilter{}, "d,c,b,a"},
			{"by status", ConsentFilter{Status: "REJECTED"}, "c,b"},
			{"by holder ref", ConsentFilter{HolderRef: "ref-ana"}, "d,c,a"},
			{"by another holder ref", ConsentFilter{HolderRef: "ref-co"}, "b"},
			{"both", ConsentFilter{Status: "AUTHORISED", HolderRef: "ref-ana"}, "d,a"},
			{"limit", ConsentFilter{Limit: 2}, "d,c"},
			{"no match", ConsentFilter{HolderRef: "ref-none"}, ""},
			{"a tax id is not a holder ref", ConsentFilter{HolderRef: "52998224725"}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListConsents(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != tt.want {
					t.Errorf("ListConsents = %q, want %q", ids(got), tt.want)
				}
			})
		}
		got, err := s.ConsentsForSession(ctx, "s1")
		if err != nil || ids(got) != "d,b,a" {
			t.Errorf("ConsentsForSession = %q, %v; want d,b,a", ids(got), err)
		}
		got, err = s.ConsentsForSession(ctx, "none")
		if err != nil || len(got) != 0 {
			t.Errorf("ConsentsForSession(none) = %v, %v", got, err)
		}
	})
}

func TestMarkCallback(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		if err := s.CreateConsent(ctx, Consent{ID: "c1"}); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
		first, err := s.MarkCallback(ctx, "c1", "access_denied", "O usuário recusou")
		if err != nil || !first {
			t.Fatalf("first MarkCallback = %v, %v; want true", first, err)
		}
		c.Advance(time.Minute)
		first, err = s.MarkCallback(ctx, "c1", "server_error", "other")
		if err != nil || first {
			t.Fatalf("second MarkCallback = %v, %v; want false", first, err)
		}
		got, _ := s.Consent(ctx, "c1")
		if got.CallbackAt == nil || !got.CallbackAt.Equal(t0.Add(time.Minute)) || got.ErrorCode != "access_denied" ||
			got.ErrorDescription != "O usuário recusou" {
			t.Errorf("after MarkCallback: callback %v, code %q, desc %q", got.CallbackAt, got.ErrorCode, got.ErrorDescription)
		}
		if _, err := s.MarkCallback(ctx, "nope", "", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkCallback(nope) = %v, want ErrNotFound", err)
		}
	})
}

// TestSetStatusTransitions: every (from, to) pair of known statuses plus unknown ones; rows are data.
func TestSetStatusTransitions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		const (
			st  = consent.Started
			aa  = consent.AwaitingAuthorisation
			al  = consent.AwaitingLGPDAuthorisation
			au  = consent.Authorised
			er  = consent.Error
			rj  = consent.Rejected
			ex  = consent.Expired
			rv  = consent.Revoked
			del = consent.DeletedByUser
			unk = consent.Status("SOMETHING_NEW")
		)
		// allowed[from] lists every status it may move to; anything else leaves it unchanged.
		allowed := map[consent.Status][]consent.Status{
			st:  {aa, al, au, er, rj, ex, rv, del},
			aa:  {al, au, er, rj, ex, rv, del},
			al:  {au, er, rj, ex, rv, del},
			au:  {ex, rv, del},
			er:  {},
			rj:  {},
			ex:  {},
			rv:  {},
			del: {},
		}
		all := append(append([]consent.Status{}, consent.All...), unk)
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		n := 0
		for _, from := range consent.All {
			for _, to := range all {
				n++
				wantChanged := false
				for _, a := range allowed[from] {
					wantChanged = wantChanged || a == to
				}
				t.Run(string(from)+" to "+string(to), func(t *testing.T) {
					id := "c-" + string(from) + "-" + string(to)
					if err := s.CreateConsent(ctx, Consent{ID: id, Status: from}); err != nil {
						t.Fatal(err)
					}
					c.Advance(time.Second)
					changed, err := s.SetStatus(ctx, id, to, nil, "")
					if err != nil {
						t.Fatal(err)
					}
					got, _ := s.Consent(ctx, id)
					wantStatus, wantUpdated := from, got.CreatedAt
					if wantChanged {
						wantStatus, wantUpdated = to, c.Now()
					}
					if changed != wantChanged || got.Status != wantStatus || !got.UpdatedAt.Equal(wantUpdated) {
						t.Errorf("SetStatus(%s→%s) changed=%v status=%s updated=%v; want %v %s %v",
							from, to, changed, got.Status, got.UpdatedAt, wantChanged, wantStatus, wantUpdated)
					}
				})
			}
		}
		if n != len(consent.All)*(len(consent.All)+1) {
			t.Fatalf("ran %d pairs", n)
		}
	})
}

func TestSetStatusDetails(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		if err := s.CreateConsent(ctx, Consent{ID: "c1", Status: "AWAITING_AUTHORISATION"}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name        string
			status      consent.Status
			granted     []string
			expireAt    string
			wantChanged bool
			wantGranted []string
			wantExpire  string
		}{
			{"authorised with grants", "AUTHORISED", []string{"ACCOUNTS_READ"}, "2027-01-01T00:00:00Z", true,
				[]string{"ACCOUNTS_READ"}, "2027-01-01T00:00:00Z"},
			{"same again is idempotent", "AUTHORISED", []string{"ACCOUNTS_READ"}, "2027-01-01T00:00:00Z", false,
				[]string{"ACCOUNTS_READ"}, "2027-01-01T00:00:00Z"},
			{"same status, nil grants and empty expiry keep values", "AUTHORISED", nil, "", false,
				[]string{"ACCOUNTS_READ"}, "2027-01-01T00:00:00Z"},
			{"same status, new grants", "AUTHORISED", []string{"ACCOUNTS_READ", "CREDIT_CARDS_ACCOUNTS_READ"}, "", true,
				[]string{"ACCOUNTS_READ", "CREDIT_CARDS_ACCOUNTS_READ"}, "2027-01-01T00:00:00Z"},
			{"stale pending status ignored, details too", "AWAITING_LGPD_AUTHORISATION", []string{}, "2030-01-01T00:00:00Z",
				false, []string{"ACCOUNTS_READ", "CREDIT_CARDS_ACCOUNTS_READ"}, "2027-01-01T00:00:00Z"},
			{"revoked", "REVOKED", nil, "", true, []string{"ACCOUNTS_READ", "CREDIT_CARDS_ACCOUNTS_READ"},
				"2027-01-01T00:00:00Z"},
			{"terminal frozen, details too", "REVOKED", []string{}, "2031-01-01T00:00:00Z", false,
				[]string{"ACCOUNTS_READ", "CREDIT_CARDS_ACCOUNTS_READ"}, "2027-01-01T00:00:00Z"},
		}
		lastUpdate := t0
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				c.Advance(time.Second)
				changed, err := s.SetStatus(ctx, "c1", st.status, st.granted, st.expireAt)
				if err != nil {
					t.Fatal(err)
				}
				if changed {
					lastUpdate = c.Now()
				}
				got, _ := s.Consent(ctx, "c1")
				if changed != st.wantChanged || !reflect.DeepEqual(got.PermissionsGranted, st.wantGranted) ||
					got.ExpireAt != st.wantExpire || !got.UpdatedAt.Equal(lastUpdate) {
					t.Errorf("changed=%v granted=%v expire=%q updated=%v; want %v %v %q %v", changed,
						got.PermissionsGranted, got.ExpireAt, got.UpdatedAt, st.wantChanged, st.wantGranted, st.wantExpire,
						lastUpdate)
				}
			})
		}
		if _, err := s.SetStatus(ctx, "nope", "AUTHORISED", nil, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetStatus(nope) = %v, want ErrNotFound", err)
		}
	})
}

func TestClaimReportRequestExactlyOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		if err := s.CreateConsent(ctx, Consent{ID: "c1", Status: "AUTHORISED"}); err != nil {
			t.Fatal(err)
		}
		const callers = 50
		var wg sync.WaitGroup
		var mu sync.Mutex
		claims, failures := 0, 0
		start := make(chan struct{})
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := s.ClaimReportRequest(ctx, "c1")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures++
				}
				if ok {
					claims++
				}
			}()
		}
		close(start)
		wg.Wait()
		if claims != 1 || failures != 0 {
			t.Fatalf("claims = %d, failures = %d; want 1 and 0", claims, failures)
		}
		got, _ := s.Consent(ctx, "c1")
		if got.ReportsRequestedAt == nil || !got.ReportsRequestedAt.Equal(t0) {
			t.Errorf("ReportsRequestedAt = %v, want %v", got.ReportsRequestedAt, t0)
		}

		t.Run("release then claim again", func(t *testing.T) {
			if err := s.ReleaseReportRequest(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Minute)
			ok, err := s.ClaimReportRequest(ctx, "c1")
			if err != nil || !ok {
				t.Fatalf("claim after release = %v, %v", ok, err)
			}
			if err := s.SetReportRequestID(ctx, "c1", "req-42"); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Consent(ctx, "c1")
			if got.ReportRequestID != "req-42" || !got.ReportsRequestedAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("got request id %q at %v", got.ReportRequestID, got.ReportsRequestedAt)
			}
		})
		t.Run("not found", func(t *testing.T) {
			if _, err := s.ClaimReportRequest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ClaimReportRequest: %v", err)
			}
			if err := s.ReleaseReportRequest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReleaseReportRequest: %v", err)
			}
			if err := s.SetReportRequestID(ctx, "nope", "r"); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetReportRequestID: %v", err)
			}
		})
	})
}

func TestDueForPoll(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		for _, cs := range []Consent{
			{ID: "never-polled", Status: "AWAITING_AUTHORISATION"},
			{ID: "due", Status: "AWAITING_LGPD_AUTHORISATION"},
			{ID: "later", Status: "STARTED"},
			{ID: "authorised", Status: "AUTHORISED"},
			{ID: "terminal", Status: "REJECTED"},
		} {
			if err := s.CreateConsent(ctx, cs); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		mustSchedule := func(id string, next time.Time, attempts int) {
			t.Helper()
			if err := s.SchedulePoll(ctx, id, next, attempts); err != nil {
				t.Fatal(err)
			}
		}
		mustSchedule("due", t0.Add(time.Minute), 3)
		mustSchedule("later", t0.Add(time.Hour), 1)
		mustSchedule("authorised", t0.Add(2*time.Minute), 1)
		mustSchedule("terminal", t0, 1)

		due, err := s.DueForPoll(ctx, t0.Add(2*time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range due {
			ids = append(ids, d.ID)
		}
		if got := strings.Join(ids, ","); got != "never-polled,due,authorised" {
			t.Errorf("DueForPoll = %q, want never-polled,due,authorised", got)
		}
		got, _ := s.Consent(ctx, "due")
		if got.PollAttempts != 3 || got.NextPollAt == nil || !got.NextPollAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("scheduled: attempts %d next %v", got.PollAttempts, got.NextPollAt)
		}
		if !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Errorf("SchedulePoll moved UpdatedAt")
		}
		if due, _ := s.DueForPoll(ctx, t0.Add(2*time.Minute), 1); len(due) != 1 {
			t.Errorf("limit 1 gave %d", len(due))
		}
		if err := s.SchedulePoll(ctx, "nope", t0, 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("SchedulePoll(nope) = %v", err)
		}
	})
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		entries := []TimelineEntry{
			{ConsentID: "c1", Kind: "api", Title: consent.M("Consent created"), OK: true},
			{ConsentID: "c1", Kind: "redirect", Title: consent.M("Sent to the bank"), OK: true},
			{ConsentID: "other", Kind: "api", Title: consent.M("x")},
			{ConsentID: "c1", Kind: "webhook", Title: consent.M("consent_authorised"), Detail: consent.M(consent.TLText, "signature invalid"), OK: false},
		}
		for _, e := range entries {
			if err := s.AddTimeline(ctx, e); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		// An explicit time earlier than the others sorts first.
		if err := s.AddTimeline(ctx, TimelineEntry{ConsentID: "c1", Kind: "poll", Title: consent.M("early"), At: t0.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Timeline(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, e := range got {
			titles = append(titles, e.Title.Key)
		}
		if strings.Join(titles, "|") != "early|Consent created|Sent to the bank|consent_authorised" {
			t.Errorf("Timeline titles = %v", titles)
		}
		last := got[len(got)-1]
		if last.Kind != "webhook" || last.OK || !last.Detail.Equal(consent.M(consent.TLText, "signature invalid")) || !last.At.Equal(t0.Add(3*time.Second)) || last.ID == 0 {
			t.Errorf("last entry = %+v", last)
		}
		if got, err := s.Timeline(ctx, "none"); err != nil || len(got) != 0 {
			t.Errorf("Timeline(none) = %v, %v", got, err)
		}
		if err := s.AddTimeline(ctx, TimelineEntry{Kind: "api"}); err == nil {
			t.Error("AddTimeline without consent id succeeded")
		}
	})
}

func TestConsentCursor(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC)
	cur := ConsentCursor{CreatedAt: at, ID: "consent-42"}
	s := cur.String()
	if strings.ContainsAny(s, "=+/.") || strings.Contains(s, "consent") {
		t.Errorf("cursor %q is not opaque base64url", s)
	}
	got, err := ParseConsentCursor(s)
	if err != nil || got.ID != cur.ID || !got.CreatedAt.Equal(at) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{
		"", "!!", "abc$", s + "=", base64.URLEncoding.EncodeToString([]byte("1.ab")), // padded
		b64("1"), b64("1."), b64(".a"), b64("-1.a"), b64("+1.a"), b64("01.a"), b64("1x.a"),
		b64("1.a b"), b64("1.a\x00"), b64("1.é"), b64("99999999999999999999.a"),
		b64("1." + strings.Repeat("a", 201)), strings.Repeat("A", 1000),
	} {
		if _, err := ParseConsentCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseConsentCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}

func TestListConsentPage(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		// 9 consents; b1..b3 share one created_at (the id breaks the tie), the others are a second apart.
		var want []string // newest first
		for i, id := range []string{"a1", "a2", "b3", "b1", "b2", "a3", "a4", "a5", "a6"} {
			status := consent.Authorised
			if i%2 == 1 {
				status = consent.Rejected
			}
			if err := s.CreateConsent(ctx, Consent{ID: id, LinkID: "L" + id, Status: status}); err != nil {
				t.Fatal(err)
			}
			if id != "b3" && id != "b1" {
				c.Advance(time.Second)
			}
		}
		want = []string{"a6", "a5", "a4", "a3", "b3", "b2", "b1", "a2", "a1"}

		walk := func(t *testing.T, f ConsentFilter) ([]string, int) {
			t.Helper()
			var ids []string
			pages := 0
			for {
				page, err := s.ListConsentPage(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, r := range page.Rows {
					ids = append(ids, r.ID)
				}
				if page.Next == nil {
					return ids, pages
				}
				last := page.Rows[len(page.Rows)-1]
				if len(page.Rows) != f.Limit || page.Next.ID != last.ID || !page.Next.CreatedAt.Equal(last.CreatedAt) {
					t.Fatalf("page %d: %d rows, Next %+v", pages, len(page.Rows), page.Next)
				}
				if pages > 100 {
					t.Fatal("pagination does not end")
				}
				// Through the string form, as the handler does.
				cur, err := ParseConsentCursor(page.Next.String())
				if err != nil {
					t.Fatal(err)
				}
				f.Before = &cur
			}
		}
		t.Run("disjoint pages newest first, ties by id", func(t *testing.T) {
			for _, size := range []int{1, 2, 3, 4, 9, 10} {
				ids, pages := walk(t, ConsentFilter{Limit: size})
				if strings.Join(ids, ",") != strings.Join(want, ",") {
					t.Errorf("by %d: %v, want %v", size, ids, want)
				}
				if wantPages := (len(want) + size - 1) / size; pages != wantPages {
					t.Errorf("by %d: %d pages, want %d", size, pages, wantPages)
				}
			}
		})
		t.Run("filters carry across pages", func(t *testing.T) {
			ids, _ := walk(t, ConsentFilter{Status: "REJECTED", Limit: 2})
			if got := strings.Join(ids, ","); got != "a5,a3,b1,a2" {
				t.Errorf("REJECTED = %s", got)
			}
			ids, _ = walk(t, ConsentFilter{Status: "AUTHORISED", Limit: 2})
			if got := strings.Join(ids, ","); got != "a6,a4,b3,b2,a1" {
				t.Errorf("AUTHORISED = %s", got)
			}
		})
		t.Run("cursor of an unknown row still positions", func(t *testing.T) {
			b, _ := s.Consent(ctx, "b2")
			page, err := s.ListConsentPage(ctx, ConsentFilter{Before: &ConsentCursor{CreatedAt: b.CreatedAt, ID: "b25"}})
			if err != nil || len(page.Rows) != 4 || page.Rows[0].ID != "b2" || page.Next != nil {
				t.Errorf("before (b.., b25) = %+v, %v", page, err)
			}
		})
	})
}

func TestListConsentPageReportCounts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, _ := openTest(t, be)
		for _, cs := range []Consent{{ID: "c1", LinkID: "L1"}, {ID: "c2", LinkID: "L1"}, {ID: "c3"}, {ID: "c4", LinkID: "L4"}} {
			if err := s.CreateConsent(ctx, cs); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Second)
		}
		for _, r := range []Report{
			{ID: "r-c1", ConsentID: "c1", LinkID: "L1"},
			{ID: "r-c1b", ConsentID: "c1", LinkID: "L1"},
			{ID: "r-link-only", LinkID: "L1"},
			{ID: "r-c2", ConsentID: "c2", LinkID: "L1"},
			{ID: "r-other-link", LinkID: "L2"},
			{ID: "r-nothing"},
			{ID: "r-c3", ConsentID: "c3"},
			{ID: "r-unknown", ConsentID: "zz", LinkID: "L4"}, // names another consent: not c4's
		} {
			if _, err := s.RecordReportDelivery(ctx, Delivery{}, r); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.ListConsentPage(ctx, ConsentFilter{})
		if err != nil || len(page.Rows) != 4 {
			t.Fatalf("ListConsentPage = %+v, %v", page, err)
		}
		want := map[string]int{"c1": 3, "c2": 2, "c3": 1, "c4": 0}
		for _, row := range page.Rows {
			reps, err := s.ReportsForConsent(ctx, row.ID)
			if err != nil {
				t.Fatal(err)
			}
			if row.Reports != want[row.ID] || row.Reports != len(reps) {
				t.Errorf("%s: Reports = %d, want %d (ReportsForConsent %d)", row.ID, row.Reports, want[row.ID], len(reps))
			}
		}
		// The embedded Consent is complete.
		if got, _ := s.Consent(ctx, "c1"); !reflect.DeepEqual(page.Rows[3].Consent, got) {
			t.Errorf("row = %+v, want %+v", page.Rows[3].Consent, got)
		}
	})
}

func TestHolderRefBackfillQueries(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		for _, c := range []Consent{
			{ID: "a", PersonalTaxID: "52998224725"},
			{ID: "b", BusinessTaxID: "11222333000181", PersonType: "business"},
			{ID: "c", PersonalTaxID: "11144477735", HolderRef: "ref-c"}, // already has one
			{ID: "d"}, // no tax id: nothing to pseudonymise
			{ID: "e", PersonalTaxID: "52998224725"},
		} {
			if err := s.CreateConsent(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(cs []Consent) string {
			var out []string
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return strings.Join(out, ",")
		}
		got, err := s.ConsentsMissingHolderRef(ctx, "", 0)
		if err != nil || ids(got) != "a,b,e" {
			t.Fatalf("ConsentsMissingHolderRef = %q, %v; want a,b,e", ids(got), err)
		}
		if got[0].PersonalTaxID != "52998224725" || got[1].BusinessTaxID != "11222333000181" {
			t.Errorf("rows without their tax ids: %+v", got[:2])
		}
		// Keyset: after an id, at most limit rows.
		if got, err := s.ConsentsMissingHolderRef(ctx, "a", 1); err != nil || ids(got) != "b" {
			t.Errorf("after a, limit 1 = %q, %v; want b", ids(got), err)
		}
		if set, err := s.SetHolderRef(ctx, "a", "ref-a"); err != nil || !set {
			t.Fatalf("SetHolderRef(a) = %v, %v", set, err)
		}
		if c, _ := s.Consent(ctx, "a"); c.HolderRef != "ref-a" {
			t.Errorf("a.HolderRef = %q", c.HolderRef)
		}
		// A consent without a tax id (never had one, or purged meanwhile) or unknown gets no pseudonym.
		for _, id := range []string{"d", "nope"} {
			if set, err := s.SetHolderRef(ctx, id, "ref-x"); err != nil || set {
				t.Errorf("SetHolderRef(%s) = %v, %v; want false, nil", id, set, err)
			}
		}
		if got, err := s.ConsentsMissingHolderRef(ctx, "", 0); err != nil || ids(got) != "b,e" {
			t.Errorf("after setting a: %q, %v; want b,e", ids(got), err)
		}
		if got, err := s.ListConsents(ctx, ConsentFilter{HolderRef: "ref-a"}); err != nil || ids(got) != "a" {
			t.Errorf("filter by the new ref = %q, %v", ids(got), err)
		}
	})
}
