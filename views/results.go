package views

import (
	"context"
	"fmt"
	"strings"

	"github.com/klavi-demo/portal/consent"
)

// What became of a webhook delivery (consent.R* keys): a short label, which places the key's arguments, and an
// explanation (key + ".why") saying what happened and what to do, without arguments. A test checks every key of
// consent.ResultArgs against this catalogue.
func init() {
	register(map[string][2]string{
		consent.RAccepted:          {"Recebido, aguardando processamento", "Received, waiting to be processed"},
		consent.RAccepted + ".why": {"A assinatura confere e o corpo foi gravado; o processador da caixa de entrada vai aplicá-lo em instantes.", "The signature matches and the body was stored; the inbox worker applies it in a moment."},
		consent.RStored:            {"Relatório armazenado", "Report stored"},
		consent.RStored + ".why":   {"O relatório foi guardado e aparece no consentimento a que pertence.", "The report was stored and shows on the consent it belongs to."},
		consent.RUnmatched:         {"Sem consentimento correspondente (guardado)", "No matching consent (kept)"},
		consent.RUnmatched + ".why": {"Nenhum consentimento deste portal tem o id que a entrega cita (criado em outro ambiente, ou ainda não gravado). A entrega fica guardada; se o consentimento aparecer depois, reaplique-a.",
			"No consent in this portal has the id the delivery names (created elsewhere, or not stored yet). The delivery is kept; if the consent appears later, replay it."},
		consent.RDiscarded: {"Descartado: dados apagados a pedido do titular", "Discarded: data deleted at the holder's request"},
		consent.RDiscarded + ".why": {"O titular pediu a exclusão dos dados (LGPD). A entrega foi aceita para que a Klavi pare de reenviá-la, mas nada dela foi guardado.",
			"The holder asked for their data to be deleted (LGPD). The delivery was acknowledged so that Klavi stops resending it, but nothing of it was kept."},
		consent.RBadSignature: {"Rejeitado: assinatura inválida", "Rejected: invalid signature"},
		consent.RBadSignature + ".why": {"O cabeçalho X-Klavi-Signature falta ou não é o HMAC-SHA256 do corpo com a KLAVI_SECRET_KEY deste portal (HTTP 401). Nada foi processado nem guardado além deste registro. Se todas as entregas falham assim, a chave configurada não é a da Klavi.",
			"The X-Klavi-Signature header is missing or is not the HMAC-SHA256 of the body keyed with this portal's KLAVI_SECRET_KEY (HTTP 401). Nothing was processed or kept but this record. If every delivery fails like this, the configured key is not Klavi's."},
		consent.RNotJSON: {"Rejeitado: o corpo não é JSON", "Rejected: the body is not JSON"},
		consent.RNotJSON + ".why": {"A assinatura confere, mas o corpo não é JSON válido e não pôde ser lido (HTTP 400). Nada foi guardado além deste registro.",
			"The signature matches, but the body is not valid JSON and could not be read (HTTP 400). Nothing was kept but this record."},
		consent.RMalformedEvents: {"Rejeitado: não são eventos da Klavi", "Rejected: not Klavi events"},
		consent.RMalformedEvents + ".why": {"O corpo é JSON, mas não é um evento (ou uma lista de eventos) com um eventId de 1 a 128 caracteres, como a Klavi envia (HTTP 400).",
			"The body is JSON, but not an event (or a list of events) with an eventId of 1 to 128 characters, as Klavi sends (HTTP 400)."},
		consent.RMalformedBody: {"Rejeitado: corpo malformado", "Rejected: malformed body"},
		consent.RMalformedBody + ".why": {"O corpo não era JSON ou não trazia eventos com eventId (HTTP 400). Registrado por uma versão anterior, que não distinguia os dois casos.",
			"The body was not JSON or carried no events with an eventId (HTTP 400). Recorded by an earlier version, which did not tell the two apart."},
		consent.RMalformedReport: {"Rejeitado: relatório sem productReportId", "Rejected: report without a productReportId"},
		consent.RMalformedReport + ".why": {"O corpo é JSON, mas não é um relatório da Klavi: falta o productReportId (HTTP 400).",
			"The body is JSON, but not a Klavi report: its productReportId is missing (HTTP 400)."},
		consent.RLegacyReport: {"Rejeitado: formato de relatório antigo", "Rejected: legacy report format"},
		consent.RLegacyReport + ".why": {"O relatório está no formato anterior ao Open Finance, que este portal não lê (HTTP 400). Peça à Klavi os produtos no formato atual.",
			"The report is in the pre-Open-Finance format, which this portal does not read (HTTP 400). Ask Klavi for the products in the current format."},
		consent.RMediaType: {"Rejeitado: tipo de conteúdo não suportado", "Rejected: unsupported content type"},
		consent.RMediaType + ".why": {"O Content-Type não era application/json (HTTP 415). Nada foi guardado além deste registro.",
			"The Content-Type was not application/json (HTTP 415). Nothing was kept but this record."},
		consent.RTooLarge: {"Rejeitado: corpo grande demais (limite %[1]s)", "Rejected: body too large (limit %[1]s)"},
		consent.RTooLarge + ".why": {"O corpo passou do limite deste receptor; a conexão foi fechada sem ler o resto (HTTP 413). O tamanho mostrado é o declarado, ou o lido até o limite.",
			"The body went over this receiver's limit; the connection was closed without reading the rest (HTTP 413). The size shown is the declared one, or what was read up to the limit."},
		consent.RDuplicate: {"Duplicado: já recebido, ignorado", "Duplicate: already received, ignored"},
		consent.RDuplicate + ".why": {"Todos os eventos (ou o relatório) desta entrega já tinham chegado com o mesmo id. Ela foi aceita e não mudou nada.",
			"Every event (or the report) of this delivery had already arrived with the same id. It was acknowledged and changed nothing."},

		consent.RProcessed: {"Processado", "Processed"},
		consent.RProcessed + ".why": {"O evento foi aplicado: a situação e a linha do tempo do consentimento o refletem.",
			"The event was applied: the consent's status and timeline reflect it."},
		consent.RStale: {"Sem efeito: o consentimento já está %[1]s", "No effect: the consent is already %[1]s"},
		consent.RStale + ".why": {"O evento chegou depois de uma situação posterior (a situação só avança). Ele está na linha do tempo e não mudou nada.",
			"The event arrived after a later status (a status only moves forward). It is on the timeline and changed nothing."},
		consent.RNoConsentID: {"Ignorado: evento sem consentId", "Ignored: event without a consentId"},
		consent.RNoConsentID + ".why": {"Um evento de consentimento que não cita um consentId válido não pode ser aplicado a nada.",
			"A consent event that names no valid consentId cannot be applied to anything."},
		consent.RUnreadable:          {"Ignorado: evento ilegível", "Ignored: unreadable event"},
		consent.RUnreadable + ".why": {"O evento guardado não pôde ser lido de novo.", "The stored event could not be read again."},
		consent.RUnreadablePayload:   {"Ignorado: payload ilegível", "Ignored: unreadable payload"},
		consent.RUnreadablePayload + ".why": {"O payload do evento de produto não tem o formato esperado (requestId, linkId, consentIds, productName).",
			"The product event's payload does not have the expected shape (requestId, linkId, consentIds, productName)."},
		consent.RLinkCreated: {"Ignorado: link_created (link já conhecido)", "Ignored: link_created (link already known)"},
		consent.RLinkCreated + ".why": {"O próprio portal cria os links, então já conhece este; não há nada a fazer.",
			"The portal creates links itself, so it knows this one already; there is nothing to do."},
		consent.RUnknownEvent: {"Ignorado: evento desconhecido %[1]s", "Ignored: unknown event %[1]s"},
		consent.RUnknownEvent + ".why": {"O portal não conhece este tipo de evento (eventName). Ele fica guardado e não muda nada: eventos novos da Klavi nunca são recusados.",
			"The portal does not know this kind of event (eventName). It is kept and changes nothing: new Klavi events are never refused."},
		consent.RProbe: {"Sonda do próprio portal", "The portal's own probe"},
		consent.RProbe + ".why": {"Um evento de teste que o portal assinou e enviou a si mesmo pela PUBLIC_URL para confirmar que os webhooks chegam. Não cita consentimento e não muda nada.",
			"A test event the portal signed and sent to itself through PUBLIC_URL to confirm that webhooks arrive. It names no consent and changes nothing."},
		consent.RRetry: {"Falhou, nova tentativa em instantes", "Failed, trying again shortly"},
		consent.RRetry + ".why": {"Aplicar o evento falhou (por exemplo, a Klavi não respondeu); o processador tenta de novo sozinho, até 10 vezes.",
			"Applying the event failed (for instance, Klavi did not answer); the worker tries again by itself, up to 10 times."},
		consent.RFailed: {"Falhou", "Failed"},
		consent.RFailed + ".why": {"A reaplicação falhou e nada a repete sozinho. Tente de novo mais tarde.",
			"The replay failed and nothing repeats it by itself. Try again later."},

		"webhooks.result_dead": {"Desistimos após várias tentativas", "Given up after several tries"},
		"webhooks.result_dead.why": {"Após 10 tentativas falhas o processador desistiu deste evento. Quando a causa estiver resolvida, reaplique a entrega.",
			"After 10 failed attempts the worker gave this event up. Once the cause is fixed, replay the delivery."},
		"webhooks.result_none":     {"Sem resultado registrado", "No result recorded"},
		"webhooks.result_none.why": {"Esta entrega não tem resultado gravado.", "This delivery has no recorded result."},
	})
}

// ResultText is one part of a delivery's result as shown: its label and what it means.
type ResultText struct {
	Label, Why string
}

// resultPart is one decoded result: its message, and whether the store gave the item up ("dead: ").
type resultPart struct {
	msg  consent.Msg
	dead bool
}

// resultParts decodes a stored result: the parts of a combined one ("; "), each encoded (consent.EncodeResult) or
// an older row's English text, possibly given up ("dead: ").
func resultParts(result string) []resultPart {
	if result == "" {
		return []resultPart{{msg: consent.M("webhooks.result_none")}}
	}
	var out []resultPart
	for _, p := range strings.Split(result, "; ") {
		part := resultPart{}
		if rest, ok := strings.CutPrefix(p, "dead: "); ok {
			part.dead, p = true, rest
		}
		if m, ok := consent.DecodeResult(p); ok {
			part.msg = m
		} else {
			part.msg = legacyResult(p)
		}
		out = append(out, part)
	}
	return out
}

// legacyResult maps the English text results were stored as before message keys to those keys; text it does not
// know stays as it is (consent.TLLegacy), so nothing vanishes.
func legacyResult(s string) consent.Msg {
	switch s {
	case "accepted":
		return consent.M(consent.RAccepted)
	case "processed":
		return consent.M(consent.RProcessed)
	case "stored":
		return consent.M(consent.RStored)
	case "unmatched":
		return consent.M(consent.RUnmatched)
	case "duplicate":
		return consent.M(consent.RDuplicate)
	case "rejected: invalid signature":
		return consent.M(consent.RBadSignature)
	case "rejected: malformed body":
		return consent.M(consent.RMalformedBody)
	case "rejected: malformed report":
		return consent.M(consent.RMalformedReport)
	case "rejected: legacy report format":
		return consent.M(consent.RLegacyReport)
	case "rejected: unsupported content type":
		return consent.M(consent.RMediaType)
	case "discarded: data deleted by the holder":
		return consent.M(consent.RDiscarded)
	case "ignored: link_created":
		return consent.M(consent.RLinkCreated)
	case "ignored: no consent id":
		return consent.M(consent.RNoConsentID)
	case "ignored: unreadable payload":
		return consent.M(consent.RUnreadablePayload)
	case "ignored: unreadable":
		return consent.M(consent.RUnreadable)
	}
	if status, ok := strings.CutPrefix(s, "ignored: the consent is already "); ok {
		return consent.M(consent.RStale, status)
	}
	if why, ok := strings.CutPrefix(s, "retry: "); ok {
		return consent.M(consent.RRetry, consent.TLLegacy, why)
	}
	if name, ok := strings.CutPrefix(s, "ignored: "); ok {
		return consent.M(consent.RUnknownEvent, name)
	}
	return consent.M(consent.TLLegacy, s)
}

// partLabel is one part's label in the context's language.
func partLabel(ctx context.Context, p resultPart) string {
	m := p.msg
	var label string
	switch m.Key {
	case consent.RRetry, consent.RFailed:
		label = T(ctx, m.Key)
		if len(m.Args) > 0 {
			why := TimelineText(ctx, consent.Msg{Key: m.Args[0], Args: m.Args[1:]})
			if p.dead {
				// Given up after retrying: the reason is what matters.
				return T(ctx, "webhooks.result_dead") + ": " + why
			}
			label += ": " + why
		}
	case consent.TLLegacy:
		label = TimelineText(ctx, m)
	default:
		if _, ok := messages[m.Key]; !ok {
			label = strings.TrimSpace(m.Key + " " + strings.Join(m.Args, " "))
			break
		}
		args := make([]any, len(m.Args))
		for i, a := range m.Args {
			args[i] = a
		}
		label = fmt.Sprintf(T(ctx, m.Key), args...)
	}
	if p.dead {
		return T(ctx, "webhooks.result_dead") + ": " + label
	}
	return label
}

// partWhy is one part's explanation; "" for text the catalogue does not know.
func partWhy(ctx context.Context, p resultPart) string {
	if p.dead {
		return T(ctx, "webhooks.result_dead.why")
	}
	if _, ok := messages[p.msg.Key+".why"]; ok {
		return T(ctx, p.msg.Key+".why")
	}
	return ""
}

// ResultLabel is a delivery's (or a replay's) stored result as a short text in the context's language: each part's
// label, "; " apart.
func ResultLabel(ctx context.Context, result string) string {
	parts := resultParts(result)
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = partLabel(ctx, p)
	}
	return strings.Join(out, "; ")
}

// ResultExplained is a stored result part by part, each with what it means.
func ResultExplained(ctx context.Context, result string) []ResultText {
	var out []ResultText
	for _, p := range resultParts(result) {
		out = append(out, ResultText{Label: partLabel(ctx, p), Why: partWhy(ctx, p)})
	}
	return out
}

// resultKey is the key of a result's first part (data-result-key on the inbox page, for tests and for grep).
func resultKey(result string) string {
	p := resultParts(result)[0]
	if p.dead {
		return "dead"
	}
	return p.msg.Key
}
