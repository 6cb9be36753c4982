-- A keyed pseudonym of the consent's tax id (hex HMAC-SHA256, computed by the handlers, whose key the store never
-- sees): the consents list filters by it, so a CPF/CNPJ never has to travel in a URL (ASVS 14.2.1). '' until
-- set; rows older than this column are filled in when the server starts, and a purge blanks it with the tax ids.
ALTER TABLE consents ADD COLUMN holder_ref TEXT NOT NULL DEFAULT '';
CREATE INDEX consents_holder_ref ON consents (holder_ref, created_at) WHERE holder_ref <> '';
