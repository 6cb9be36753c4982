package views

// Texts of several banks on one link (the consent page's strip, "connect another bank") and of continuing on a
// phone (the QR block of the institution step and the phone's pages).
func init() {
	register(map[string][2]string{
		"title.link_expired":    {"Conexão expirada", "Connection expired"},
		"title.handoff":         {"Continuar neste celular", "Continue on this phone"},
		"title.handoff_invalid": {"Link inválido", "Link no longer valid"},

		"err.institution_taken": {"Você já tem um consentimento ativo ou em andamento com esta instituição nesta conexão. Escolha outra.", "You already have an active or pending consent with this institution on this connection. Choose another one."},
		"inst.on_link":          {"Nesta conexão:", "On this connection:"},
		"inst.taken":            {"Já escolhida", "Already chosen"},
		"inst.taken_why":        {"Já há um consentimento ativo ou em andamento com ela nesta conexão.", "This connection already has an active or pending consent with it."},

		"strip.title":            {"Bancos nesta conexão", "Banks on this connection"},
		"strip.lead":             {"As instituições escolhidas para este CPF/CNPJ nesta conexão, cada uma com a situação do seu consentimento.", "The institutions chosen for this CPF/CNPJ on this connection, each with its consent's status."},
		"strip.add":              {"Conectar outro banco", "Connect another bank"},
		"strip.this":             {"(esta)", "(this one)"},
		"strip.note_unavailable": {"Não foi possível consultar a Klavi agora; os estados mostrados são os que o portal conhece.", "Klavi could not be asked just now; the statuses shown are the ones the portal knows."},
		"strip.note_stored":      {"Estados conhecidos pelo portal.", "Statuses as the portal knows them."},
		"strip.expired":          {"Esta conexão expirou: para conectar outro banco, comece de novo.", "This connection has expired: to connect another bank, start again."},
		"strip.start_again":      {"Começar de novo", "Start again"},

		"linkexp.title": {"Esta conexão expirou", "This connection has expired"},
		"linkexp.body":  {"O tempo para escolher instituições nesta conexão acabou. Os consentimentos já feitos continuam valendo. Para conectar outro banco, comece de novo.", "The time to choose institutions on this connection is over. The consents already given still stand. To connect another bank, start again."},

		"handoff.title":         {"Continuar no celular", "Continue on your phone"},
		"handoff.lead":          {"Aponte a câmera do celular para o código para escolher o banco e autorizar por lá. Esta página acompanha o resultado.", "Point your phone's camera at the code to choose the bank and authorise there. This page follows the result."},
		"handoff.type":          {"Não consegue ler o código? Digite no celular:", "Cannot scan the code? Type this on your phone:"},
		"handoff.valid":         {"Vale por %d minutos, uma única vez.", "Valid for %d minutes, once."},
		"handoff.valid_last":    {"Vale por menos de um minuto, uma única vez.", "Valid for less than a minute, once."},
		"handoff.qr_alt":        {"Código QR com o endereço para continuar no celular, o mesmo escrito ao lado.", "QR code with the address to continue on your phone, the same as written beside it."},
		"handoff.previous":      {"Seu celular já conectou um banco.", "Your phone already connected a bank."},
		"handoff.see_consent":   {"Ver o consentimento", "See the consent"},
		"handoff.done":          {"Terminei no celular", "I finished on my phone"},
		"handoff.new":           {"Mostrar um novo código", "Show a new code"},
		"handoff.waiting":       {"Aguardando o celular…", "Waiting for your phone…"},
		"handoff.opened":        {"Aberto no celular. Termine por lá; esta página acompanha.", "Opened on your phone. Finish there; this page follows along."},
		"handoff.finished":      {"Pronto: o celular criou o consentimento.", "Done: your phone created the consent."},
		"handoff.expired":       {"Este código expirou.", "This code has expired."},
		"handoff.not_yet":       {"O celular ainda não criou um consentimento. Termine por lá e tente de novo.", "Your phone has not created a consent yet. Finish there and try again."},
		"handoff.landing_title": {"Continuar neste celular?", "Continue on this phone?"},
		"handoff.landing_lead":  {"Você começou no computador. Aqui você escolhe o banco e autoriza o compartilhamento; o computador acompanha o resultado.", "You started on your computer. Here you choose the bank and authorise the sharing; the computer follows the result."},
		"handoff.landing_note":  {"Este celular terá a própria sessão; o computador também verá o consentimento que você criar aqui.", "This phone gets its own session; the computer will also see the consent you create here."},
		"handoff.continue":      {"Continuar neste celular", "Continue on this phone"},
		"handoff.invalid_title": {"Este link não vale mais", "This link is no longer valid"},
		"handoff.invalid_body":  {"O link para continuar no celular vale uma única vez, por 10 minutos. Ele já foi usado ou expirou. Mostre um novo código no computador, ou comece aqui mesmo.", "The link to continue on a phone works once, for 10 minutes. It was already used or has expired. Show a new code on the computer, or start here."},
		"handoff.invalid_start": {"Começar neste celular", "Start on this phone"},
	})
}
