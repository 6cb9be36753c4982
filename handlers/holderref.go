package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// The consents list filters by a holder ref, a keyed pseudonym of the consent's tax id, so that a CPF/CNPJ never
// travels in a URL (ASVS 14.2.1, reliability.md §6): the search form is a POST that answers 303 to
// /consents?holder=<ref>. The key is derived from the session key, so refs are stable across restarts for as
// long as the session key is; the store only ever sees the refs.

// holderRefLen is the length of a holder ref: the first 128 bits of the HMAC, in lowercase hex.
const holderRefLen = 32

// deriveHolderKey is the HMAC key of the holder refs: HMAC-SHA256(session key, "portal holder ref v1").
func deriveHolderKey(sessionKey []byte) []byte {
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte("portal holder ref v1"))
	return m.Sum(nil)
}

// holderRef is the pseudonym of a tax id: hex(HMAC-SHA256(key, "holder:" + normalised id))[:32]; "" when the id
// is empty or not normalisable.
func (s *Server) holderRef(taxID string) string {
	n, err := taxid.Normalize(taxID)
	if err != nil {
		return ""
	}
	m := hmac.New(sha256.New, s.holderKey)
	m.Write([]byte("holder:" + n))
	return hex.EncodeToString(m.Sum(nil))[:holderRefLen]
}

// consentHolderRef is the holder ref of a consent: that of the tax id the consent is about (consentTaxID).
func (s *Server) consentHolderRef(c store.Consent) string { return s.holderRef(consentTaxID(c)) }

// validHolderRef accepts exactly what holderRef makes: 32 lowercase hex characters.
func validHolderRef(v string) bool {
	if len(v) != holderRefLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// holderRefBatch is how many consents backfillHolderRefs reads at a time.
const holderRefBatch = 200

// backfillHolderRefs gives a holder ref to every consent that has a tax id but none yet (rows stored before the
// column existed). Run calls it once at start, next to the request handlers: each row is one UPDATE that the store
// skips if the consent was purged meanwhile, so it is safe alongside everything else. It returns how many it set.
func (s *Server) backfillHolderRefs(ctx context.Context) int {
	n, after := 0, ""
	for ctx.Err() == nil {
		batch, err := s.st.ConsentsMissingHolderRef(ctx, after, holderRefBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "holder ref backfill failed", "err", safeErr(err))
			}
			break
		}
		for _, c := range batch {
			after = c.ID
			ref := s.consentHolderRef(c)
			if ref == "" {
				continue // e.g. a personal consent holding only a CNPJ: it is listed, just not searchable
			}
			set, err := s.st.SetHolderRef(ctx, c.ID, ref)
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "holder ref backfill failed", "err", safeErr(err))
				}
				return n
			}
			if set {
				n++
			}
		}
		if len(batch) < holderRefBatch {
			break
		}
	}
	if n > 0 {
		s.log.InfoContext(ctx, "holder refs backfilled", "consents", n)
	}
	return n
}
