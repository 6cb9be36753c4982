package reportview

import "strings"

// mccGroup maps a merchant category code (ISO 18245, sent by Open Finance card reports as payeeMCC) to a catalogue
// key naming its category in the user's language.
//
// Written by hand: no kept Go module carries the MCC list, and the portal needs only these broad groups, which
// follow the public ranges card networks publish (docs/klavi.md#reports). Exact codes come first, then ranges.
func mccGroup(mcc int) string {
	switch mcc {
	case 4111, 4112, 4131:
		return "mcc.transit"
	case 4121:
		return "mcc.taxi"
	case 4812, 4814, 4816:
		return "mcc.telecom"
	case 4899, 5815, 5816, 5817, 5818:
		return "mcc.digital"
	case 4900:
		return "mcc.utilities"
	case 5411, 5422, 5441, 5451, 5462, 5499:
		return "mcc.groceries"
	case 5541, 5542, 5983:
		return "mcc.fuel"
	case 5812, 5813, 5814:
		return "mcc.restaurants"
	case 5912, 5122:
		return "mcc.pharmacy"
	case 5942, 5943:
		return "mcc.books"
	case 5995:
		return "mcc.pets"
	case 7832, 7841, 7922, 7929, 7991, 7996, 7997, 7999:
		return "mcc.leisure"
	case 4722:
		return "mcc.travel"
	}
	switch {
	case mcc >= 3000 && mcc <= 3350, mcc == 4511:
		return "mcc.airlines"
	case mcc >= 3351 && mcc <= 3500, mcc == 7512:
		return "mcc.carrental"
	case mcc >= 3501 && mcc <= 3999, mcc >= 7011 && mcc <= 7012:
		return "mcc.lodging"
	case mcc >= 4000 && mcc <= 4799:
		return "mcc.transport"
	case mcc >= 4800 && mcc <= 4999:
		return "mcc.utilities"
	case mcc >= 5500 && mcc <= 5599, mcc >= 7531 && mcc <= 7549:
		return "mcc.auto"
	case mcc >= 5600 && mcc <= 5699:
		return "mcc.clothing"
	case mcc >= 5700 && mcc <= 5799:
		return "mcc.home"
	case mcc >= 5000 && mcc <= 5999:
		return "mcc.shopping"
	case mcc >= 6000 && mcc <= 6999:
		return "mcc.financial"
	case mcc >= 8000 && mcc <= 8099:
		return "mcc.health"
	case mcc >= 8200 && mcc <= 8299:
		return "mcc.education"
	case mcc >= 7000 && mcc <= 8999:
		return "mcc.services"
	case mcc >= 9000 && mcc <= 9999:
		return "mcc.government"
	case mcc >= 1 && mcc <= 2999:
		return "mcc.services"
	}
	return ""
}

// accountKind names an account transaction that the bank typed OUTROS ("other") or not at all, from the words its
// description starts with or contains, so the page says "Saque" or "Pagamento" instead of "Outros". It returns a
// catalogue key, or "" when nothing is clear (the bank's type is shown then).
func accountKind(typ, description, creditDebit string) string {
	if typ != "" && typ != "OUTROS" {
		return ""
	}
	d := strings.ToUpper(description)
	switch {
	case strings.Contains(d, "ESTORNO"):
		return "rpt.kind.refund"
	case strings.Contains(d, "SAQUE"):
		return "rpt.kind.withdrawal"
	case strings.Contains(d, "PAGTO") || strings.Contains(d, "PGTO") || strings.Contains(d, "PAGAMENTO"):
		return "rpt.kind.payment"
	case strings.Contains(d, "COMPRA"):
		return "rpt.kind.purchase"
	case strings.Contains(d, "TRANSF"):
		return "rpt.kind.transfer"
	}
	return ""
}

// cardKind does the same for a card transaction. Open Finance card reports type an ordinary purchase OUTROS, so a
// debit at a merchant is a purchase; a credit is a refund when its description says so, otherwise a credit.
func cardKind(typ, description, creditDebit string, mcc int) string {
	if typ != "" && typ != "OUTROS" {
		return ""
	}
	d := strings.ToUpper(description)
	switch {
	case strings.Contains(d, "ESTORNO"):
		return "rpt.kind.refund"
	case strings.Contains(d, "PAGTO") || strings.Contains(d, "PGTO") || strings.Contains(d, "PAGAMENTO"):
		return "rpt.kind.payment"
	case creditDebit == "DEBITO" || mcc > 0:
		return "rpt.kind.purchase"
	case creditDebit == "CREDITO":
		return "rpt.kind.credit"
	}
	return ""
}
