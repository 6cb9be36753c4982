// Package klavi is a client for Klavi's Open Finance Brasil Link API in "API Only" mode, written against the
// contract in docs/klavi.md, plus the helpers a webhook receiver needs (signature check, event and report
// parsing). It imports nothing else from the project and works unchanged against Klavi's sandbox and
// production when given their base URL and keys.
//
// A whole API-Only flow:
//
//	c, _ := klavi.New("https://api-sandbox.klavi.ai/data/v1", klavi.WithCredentials(accessKey, secretKey))
//	link, _ := c.CreateLink(ctx, klavi.LinkRequest{PersonalTaxID: cpf})          // accessToken (managed)
//	insts, _ := c.Institutions(ctx, link.LinkToken)                              // linkToken (kept server-side)
//	cc, _ := c.CreateConsent(ctx, link.LinkToken, klavi.ConsentRequest{ExternalTrackID: state,
//		PersonalTaxID: cpf, InstitutionCode: insts[0].InstitutionCode, RedirectURL: callbackURL, ValidityPeriod: 12})
//	// 303 the browser to cc.ConsentRedirectURL; it returns to callbackURL?consent_id=…&external_track_id=…
//	cs, _ := c.Consent(ctx, cc.ConsentID) // confirm server-side: never trust the redirect's query string
//	if cs.Status == klavi.StatusAuthorised {
//		_, _ = c.RequestReports(ctx, klavi.ReportRequest{Kind: klavi.Personal, Level: klavi.UserLevel,
//			TaxID: cpf, LinkID: link.LinkID, Products: []string{"pf_checking_account"}})
//	}
//	// Webhooks: if klavi.VerifySignature(secretKey, rawBody, r.Header.Get(klavi.SignatureHeader)) {
//	//     events, _ := klavi.ParseEvents(rawBody) / report, _ := klavi.ParseReport(rawBody) }
//
// Token handling: the accessToken is fetched lazily with POST /auth, cached, refreshed 120 s before expiry
// (GET /refresh, falling back to POST /auth) by a single in-flight request however many goroutines need it,
// and a 401 on an accessToken call triggers exactly one re-authentication and one retry. Link tokens are per
// link and passed by the caller.
//
// Reliability: every call is bounded by the caller's context and a per-call timeout; idempotent calls (GETs,
// POST /auth, GET /refresh, DELETE revoke) are retried up to 3 attempts with full-jitter exponential backoff on
// network errors, 429 (honouring Retry-After), 502/503/504 and, for GETs, 500. POST /links, POST /consents and
// report requests are never retried, since a repeat creates a second link, consent or report run. After 5
// consecutive failed calls a circuit breaker makes calls fail at once, without any network I/O, for 30 s, then
// lets one probe through; its success closes the breaker (WithBreaker changes or disables this).
//
// Errors: HTTP failures are *APIError values matched with errors.Is against the package sentinels
// (ErrUnauthorized, ErrNotFound, ErrRateLimited, ErrInstitutionUnavailable, ...); timeouts and connection
// failures match ErrUnavailable, and so do calls refused by the open breaker (also ErrCircuitOpen). Error
// texts never contain tokens, keys, CPF/CNPJ or query strings.
package klavi
