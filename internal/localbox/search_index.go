package localbox

import (
	"context"
	"database/sql"
	"fmt"
)

// The search index: SQLite FTS5 tables kept in step with folders, files
// and Skills cards by triggers, so every write path (uploads, renames,
// deletions, metadata create/patch/delete, whatever handler does it) updates
// the index in its own transaction, and a failed write leaves the index as
// it was.
//
//   - search_items has one row per folder and file (rowid = the item's ID;
//     folder and file IDs come from disjoint ranges): its name, description
//     and, for files, the text of every keyword, transcript and timeline
//     entry of its global/boxSkillsCards instance. Queries that combine
//     terms (AND, NOT) are answered at this level, as Box answers them for
//     a whole item.
//   - search_entry_rows has one row per card entry, with the card's type,
//     code and title and the entry's first appearance (seconds), indexed by
//     file; search_entries is the FTS5 index over their text (an
//     external-content table). It says where in a file a term was found.
//
// The index is derived data: a data directory from a localbox without it,
// or with an older layout (meta key search_index_version), is indexed again
// when localbox opens it.

// searchIndexVersion names the layout below; change it when the layout or
// the triggers change, and the index is rebuilt at the next start.
const searchIndexVersion = "1"

// searchTokenizer folds case and diacritics ("Résumé" finds "resume").
const searchTokenizer = `tokenize = 'unicode61 remove_diacritics 2'`

// skillsCardsCond is the WHEN clause of the metadata triggers.
const skillsCardsCond = `%[1]s.scope = 'global' AND %[1]s.template = 'boxSkillsCards'`

// cardEntries is a FROM clause over the text entries of the keyword,
// transcript and timeline cards of a boxSkillsCards document (doc, an SQL
// expression), one row x per entry: x.card and x.entry (indexes), x.ctype,
// x.code and x.title (the card's type and title), x.ev (the entry object).
// Values of unexpected types are skipped rather than failing the write
// (localbox validates cards, but the index must never be the reason a write
// fails).
//
// The card-level values are extracted once per card: the LIMIT keeps SQLite
// from flattening the card subquery into the join, which would parse the
// whole card again for every entry (measured: about ten times slower for a
// card of 100 entries).
func cardEntries(doc string) string {
	const cv = `CASE WHEN c.type = 'object' THEN c.value ELSE '{}' END`
	return fmt.Sprintf(`(SELECT cc.card AS card, cc.ctype AS ctype, cc.code AS code, cc.title AS title, e.key AS entry,
			CASE WHEN e.type = 'object' THEN e.value ELSE '{}' END AS ev
		FROM (SELECT c.key AS card, %[2]s AS ctype, %[3]s AS code, %[4]s AS title,
				CASE WHEN json_type(%[1]s, '$.entries') = 'array' THEN json_extract(%[1]s, '$.entries') ELSE '[]' END AS entries
			FROM json_each(%[5]s, '$.cards') AS c LIMIT -1) AS cc,
			json_each(cc.entries) AS e) AS x
		WHERE x.ctype IN ('keyword', 'transcript', 'timeline') AND json_type(x.ev, '$.text') = 'text'`,
		cv, textOf(cv, "$.skill_card_type"), textOf(cv, "$.skill_card_title.code"), textOf(cv, "$.skill_card_title.message"), doc)
}

// textOf is the SQL for a JSON string member of obj, or NULL.
func textOf(obj, path string) string {
	return fmt.Sprintf(`CASE WHEN json_type(%[1]s, '%[2]s') = 'text' THEN json_extract(%[1]s, '%[2]s') END`, obj, path)
}

// numberOf is the SQL for a JSON number member of obj, or NULL.
func numberOf(obj, path string) string {
	return fmt.Sprintf(`CASE WHEN json_type(%[1]s, '%[2]s') IN ('integer', 'real') THEN json_extract(%[1]s, '%[2]s') END`, obj, path)
}

// indexCards is the body of the triggers that (re)index the cards of
// file fileID from document doc.
func indexCards(fileID, doc string) string {
	return unindexCards(fileID) + fmt.Sprintf(`
		INSERT INTO search_entry_rows(file_id, card, entry, card_type, card_code, card_title, text, start, stop)
			SELECT %[1]s, x.card, x.entry, x.ctype, x.code, x.title, json_extract(x.ev, '$.text'), %[3]s, %[4]s
			FROM %[2]s;
		INSERT INTO search_entries(rowid, text) SELECT id, text FROM search_entry_rows WHERE file_id = %[1]s;
		UPDATE search_items SET cards = (SELECT group_concat(text, char(10)) FROM search_entry_rows WHERE file_id = %[1]s)
			WHERE rowid = %[1]s;`,
		fileID, cardEntries(doc), numberOf("x.ev", "$.appears[0].start"), numberOf("x.ev", "$.appears[0].end"))
}

// unindexCards removes file fileID's card entries from the index.
func unindexCards(fileID string) string {
	return fmt.Sprintf(`
		INSERT INTO search_entries(search_entries, rowid, text)
			SELECT 'delete', id, text FROM search_entry_rows WHERE file_id = %[1]s;
		DELETE FROM search_entry_rows WHERE file_id = %[1]s;
		UPDATE search_items SET cards = '' WHERE rowid = %[1]s;`, fileID)
}

// searchSchema creates the index and its triggers (names start with search_).
func searchSchema() []string {
	return []string{
		`CREATE VIRTUAL TABLE search_items USING fts5(name, description, cards, kind UNINDEXED, ` + searchTokenizer + `)`,
		`CREATE TABLE search_entry_rows (
			id INTEGER PRIMARY KEY,
			file_id INTEGER NOT NULL,
			card INTEGER NOT NULL,
			entry INTEGER NOT NULL,
			card_type TEXT NOT NULL,
			card_code TEXT,
			card_title TEXT,
			text TEXT NOT NULL,
			start REAL,
			stop REAL
		)`,
		`CREATE INDEX search_entry_rows_file ON search_entry_rows(file_id, card, entry)`,
		`CREATE VIRTUAL TABLE search_entries USING fts5(text, content = 'search_entry_rows', content_rowid = 'id', ` + searchTokenizer + `)`,

		`CREATE TRIGGER search_folder_insert AFTER INSERT ON folders WHEN NEW.id != 0 BEGIN
			INSERT INTO search_items(rowid, name, description, cards, kind) VALUES (NEW.id, NEW.name, NEW.description, '', 'folder');
		END`,
		`CREATE TRIGGER search_folder_update AFTER UPDATE OF name, description ON folders BEGIN
			UPDATE search_items SET name = NEW.name, description = NEW.description WHERE rowid = NEW.id;
		END`,
		`CREATE TRIGGER search_folder_delete AFTER DELETE ON folders BEGIN
			DELETE FROM search_items WHERE rowid = OLD.id;
		END`,
		`CREATE TRIGGER search_file_insert AFTER INSERT ON files BEGIN
			INSERT INTO search_items(rowid, name, description, cards, kind) VALUES (NEW.id, NEW.name, NEW.description, '', 'file');
		END`,
		`CREATE TRIGGER search_file_update AFTER UPDATE OF name, description ON files BEGIN
			UPDATE search_items SET name = NEW.name, description = NEW.description WHERE rowid = NEW.id;
		END`,
		`CREATE TRIGGER search_file_delete AFTER DELETE ON files BEGIN` + unindexCards("OLD.id") + `
			DELETE FROM search_items WHERE rowid = OLD.id;
		END`,
		`CREATE TRIGGER search_cards_insert AFTER INSERT ON metadata WHEN ` + fmt.Sprintf(skillsCardsCond, "NEW") + ` BEGIN` +
			indexCards("NEW.file_id", "NEW.doc") + `
		END`,
		`CREATE TRIGGER search_cards_update AFTER UPDATE OF doc ON metadata WHEN ` + fmt.Sprintf(skillsCardsCond, "NEW") + ` BEGIN` +
			indexCards("NEW.file_id", "NEW.doc") + `
		END`,
		`CREATE TRIGGER search_cards_delete AFTER DELETE ON metadata WHEN ` + fmt.Sprintf(skillsCardsCond, "OLD") + ` BEGIN` +
			unindexCards("OLD.file_id") + `
		END`,
	}
}

// ensureSearchIndex creates the search index, or rebuilds it when it was
// made by another layout (or not at all), in one transaction.
func ensureSearchIndex(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	v, err := metaValue(ctx, tx, "search_index_version")
	if err != nil {
		return fmt.Errorf("search index: reading its version: %w", err)
	}
	if v == searchIndexVersion {
		return nil
	}
	// Drop whatever an earlier layout left: triggers, then FTS5 tables
	// (their shadow tables go with them), then plain tables.
	var drops []string
	rows, err := tx.QueryContext(ctx, `SELECT 'TRIGGER', name, 0 FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search\_%' ESCAPE '\'
		UNION ALL SELECT 'TABLE', name, CASE type WHEN 'virtual' THEN 1 ELSE 2 END FROM pragma_table_list
			WHERE schema = 'main' AND type IN ('virtual', 'table') AND name LIKE 'search\_%' ESCAPE '\'
		ORDER BY 3, 2`)
	if err != nil {
		return fmt.Errorf("search index: listing its tables: %w", err)
	}
	for rows.Next() {
		var (
			kind, name string
			order      int
		)
		if err := rows.Scan(&kind, &name, &order); err != nil {
			_ = rows.Close()
			return err
		}
		drops = append(drops, fmt.Sprintf(`DROP %s IF EXISTS %q`, kind, name))
	}
	if err := rows.Close(); err != nil {
		return err
	}
	stmts := append(drops, searchSchema()...)
	stmts = append(stmts,
		`INSERT INTO search_items(rowid, name, description, cards, kind) SELECT id, name, description, '', 'folder' FROM folders WHERE id != 0`,
		`INSERT INTO search_items(rowid, name, description, cards, kind) SELECT id, name, description, '', 'file' FROM files`,
		// Index the existing cards with the triggers' own statements: an
		// update that changes nothing fires search_cards_update.
		`UPDATE metadata SET doc = doc WHERE `+fmt.Sprintf(skillsCardsCond, "metadata"),
		`INSERT INTO meta(key, value) VALUES ('search_index_version', '`+searchIndexVersion+`')
			ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
	)
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("search index: building it: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}
