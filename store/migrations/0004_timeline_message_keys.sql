-- Timeline lines become data: a message key and its arguments for the title and for the detail, rendered in the
-- reader's language (consent.Msg). Lines written before this migration were English sentences: they keep their
-- text as the one argument of the key 'tl.legacy', which the views show as stored (in English) or through the
-- fixed translations of those old sentences (in Portuguese).
ALTER TABLE timeline ADD COLUMN title_key TEXT NOT NULL DEFAULT '';
ALTER TABLE timeline ADD COLUMN title_args TEXT NOT NULL DEFAULT '[]';
ALTER TABLE timeline ADD COLUMN detail_key TEXT NOT NULL DEFAULT '';
ALTER TABLE timeline ADD COLUMN detail_args TEXT NOT NULL DEFAULT '[]';
UPDATE timeline SET title_key = 'tl.legacy', title_args = json_array(title) WHERE title <> '';
UPDATE timeline SET detail_key = 'tl.legacy', detail_args = json_array(detail) WHERE detail <> '';
ALTER TABLE timeline DROP COLUMN title;
ALTER TABLE timeline DROP COLUMN detail;
