package views

import "context"

// Texts of sign-in, first-run setup, /me and the audit trail.
func init() {
	register(map[string][2]string{
		"title.login":         {"Entrar", "Sign in"},
		"title.setup":         {"Primeiro acesso", "First run"},
		"title.me":            {"Meus consentimentos", "My consents"},
		"title.audit":         {"Auditoria", "Audit trail"},
		"layout.nav.me":       {"Meus consentimentos", "My consents"},
		"layout.nav.audit":    {"Auditoria", "Audit"},
		"layout.nav.login":    {"Entrar", "Sign in"},
		"layout.nav.logout":   {"Sair", "Sign out"},
		"layout.signed_in_as": {"Operador: %s", "Operator: %s"},

		"login.title":         {"Entrar como operador", "Sign in as an operator"},
		"login.lead":          {"Operadores veem todos os consentimentos, relatórios e webhooks. Quem usa o fluxo não precisa entrar.", "Operators see every consent, report and webhook. People walking the flow do not need to sign in."},
		"login.email":         {"E-mail", "Email"},
		"login.password":      {"Senha", "Password"},
		"login.submit":        {"Entrar", "Sign in"},
		"login.or":            {"ou", "or"},
		"login.sso":           {"Entrar com login único (SSO)", "Sign in with single sign-on"},
		"login.bad":           {"E-mail ou senha incorretos.", "Wrong email or password."},
		"login.locked":        {"Muitas tentativas. Tente de novo em %d minutos.", "Too many attempts. Try again in %d minutes."},
		"login.sso_failed":    {"O login único não foi concluído. Tente de novo.", "Single sign-on did not complete. Please try again."},
		"login.sso_denied":    {"Este e-mail não tem acesso de operador.", "This email has no operator access."},
		"login.signed_out":    {"Você saiu.", "You are signed out."},
		"setup.title":         {"Criar o primeiro operador", "Create the first operator"},
		"setup.lead":          {"Este link vale uma vez, por 15 minutos. O operador criado aqui poderá entrar e ver todos os dados do portal.", "This link works once, for 15 minutes. The operator created here can sign in and see all the portal's data."},
		"setup.password":      {"Senha", "Password"},
		"setup.password2":     {"Repita a senha", "Repeat the password"},
		"setup.password_hint": {"Pelo menos 12 caracteres.", "At least 12 characters."},
		"setup.submit":        {"Criar e entrar", "Create and sign in"},
		"setup.bad_email":     {"Informe um e-mail válido.", "Enter a valid email."},
		"setup.short":         {"A senha precisa ter pelo menos 12 caracteres.", "The password needs at least 12 characters."},
		"setup.long":          {"A senha é longa demais.", "The password is too long."},
		"setup.mismatch":      {"As senhas não conferem.", "The passwords do not match."},
		"setup.expired":       {"Este link de primeiro acesso não vale mais (já foi usado ou passou de 15 minutos). Reinicie o portal para gerar outro, ou use portal operator add.", "This first-run link no longer works (it was used or is over 15 minutes old). Restart the portal for a new one, or use portal operator add."},

		"me.title":        {"Meus consentimentos", "My consents"},
		"me.lead":         {"Os consentimentos iniciados neste navegador. Só este navegador os vê aqui.", "The consents started in this browser. Only this browser sees them here."},
		"me.empty":        {"Nenhum consentimento foi iniciado neste navegador.", "No consent was started in this browser."},
		"me.forget_title": {"Esquecer este navegador", "Forget this browser"},
		"me.forget_lead":  {"Remove o vínculo entre este navegador e os consentimentos acima. Eles continuam valendo na instituição; revogue antes se quiser encerrá-los.", "Removes the link between this browser and the consents above. They stay valid at the institution; revoke them first if you want them to end."},
		"me.forget":       {"Esquecer este navegador", "Forget this browser"},
		"me.forgotten":    {"Este navegador foi esquecido.", "This browser was forgotten."},

		"audit.title":  {"Auditoria", "Audit trail"},
		"audit.lead":   {"Entradas, saídas e ações sensíveis, da mais recente para a mais antiga. Não pode ser alterada.", "Sign-ins, sign-outs and sensitive actions, newest first. It cannot be changed."},
		"audit.at":     {"Quando", "When"},
		"audit.actor":  {"Quem", "Who"},
		"audit.action": {"Ação", "Action"},
		"audit.target": {"Sobre", "About"},
		"audit.ip":     {"Endereço", "Address"},
		"audit.failed": {"falhou", "failed"},
		"audit.empty":  {"Nada registrado ainda.", "Nothing recorded yet."},

		"audit.action.signin":                    {"Entrada", "Sign-in"},
		"audit.action.signin_sso":                {"Entrada por login único", "Single sign-on"},
		"audit.action.signout":                   {"Saída", "Sign-out"},
		"audit.action.operator_added":            {"Operador criado", "Operator created"},
		"audit.action.operator_removed":          {"Operador removido", "Operator removed"},
		"audit.action.operator_password_changed": {"Senha do operador trocada", "Operator password changed"},
		"audit.action.download_original":         {"Download do JSON original", "Original JSON downloaded"},
		"audit.action.revoke":                    {"Revogação", "Revocation"},
	})
}

// AuditActionLabel is the human name of an audit action; unknown actions are shown as recorded.
func AuditActionLabel(ctx context.Context, action string) string {
	if _, ok := messages["audit.action."+action]; ok {
		return T(ctx, "audit.action."+action)
	}
	return action
}
