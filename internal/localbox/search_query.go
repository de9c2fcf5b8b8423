package localbox

import (
	"errors"
	"strings"
	"unicode"
)

// searchQuery is a Box search query translated for SQLite FTS5.
//
// Box's syntax (developer.box.com, "Search for content"): words are
// matched as words, case-insensitively; several words match items holding
// any of them (an implicit OR); "quoted words" match as a phrase; the
// upper-case operators AND, OR and NOT combine terms ("a AND NOT b").
// Lower-case and, or, not are ordinary words.
type searchQuery struct {
	// expr is the whole query as an FTS5 expression: every term an FTS5
	// string (so no character of the query is FTS5 syntax), joined by
	// explicit AND, OR and NOT.
	expr string
	// positive are the terms not under NOT, as FTS5 strings: they say
	// where in a matching item the query was found.
	positive []string
}

// errEmptyQuery is a query without a single searchable word.
var errEmptyQuery = errors.New("the query has no word to search for")

// parseSearchQuery translates a Box query. It fails for a query without a
// word and for NOT without a term before it, which FTS5 cannot express
// (FTS5's NOT excludes from what comes before it).
func parseSearchQuery(q string) (searchQuery, error) {
	var (
		out     searchQuery
		parts   []string
		pending string // the operator read since the last term
	)
	for _, tok := range tokenizeQuery(q) {
		if !tok.phrase {
			switch tok.text {
			case "AND", "OR":
				if pending != "NOT" {
					pending = tok.text
				}
				continue
			case "NOT":
				pending = "NOT"
				continue
			}
		}
		if !hasWordChar(tok.text) {
			continue // "-", "&": nothing FTS5 would index
		}
		lit := ftsString(tok.text)
		switch {
		case len(parts) == 0 && pending == "NOT":
			return searchQuery{}, errors.New("NOT must follow a term (as in: talk NOT draft)")
		case len(parts) > 0:
			if pending == "" {
				pending = "OR"
			}
			parts = append(parts, pending)
		}
		parts = append(parts, lit)
		if pending != "NOT" {
			out.positive = append(out.positive, lit)
		}
		pending = ""
	}
	if len(parts) == 0 {
		return searchQuery{}, errEmptyQuery
	}
	out.expr = strings.Join(parts, " ")
	return out, nil
}

// inColumns restricts the query to some columns of search_items.
func (q searchQuery) inColumns(cols []string) string {
	if len(cols) == 0 {
		return q.expr
	}
	return "{" + strings.Join(cols, " ") + "} : (" + q.expr + ")"
}

// anyPositive matches an entry holding any of the positive terms.
func (q searchQuery) anyPositive() string { return strings.Join(q.positive, " OR ") }

type queryToken struct {
	text   string
	phrase bool // it was quoted: never an operator
}

// tokenizeQuery splits a query at white space, keeping "quoted phrases"
// together (an unterminated quote runs to the end).
func tokenizeQuery(q string) []queryToken {
	var toks []queryToken
	rs := []rune(q)
	for i := 0; i < len(rs); {
		switch {
		case unicode.IsSpace(rs[i]):
			i++
		case rs[i] == '"':
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				j++
			}
			toks = append(toks, queryToken{text: string(rs[i+1 : j]), phrase: true})
			i = j + 1
		default:
			j := i
			for j < len(rs) && !unicode.IsSpace(rs[j]) && rs[j] != '"' {
				j++
			}
			toks = append(toks, queryToken{text: string(rs[i:j])})
			i = j
		}
	}
	return toks
}

func hasWordChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// ftsString quotes s as an FTS5 string: a phrase of the words in s.
func ftsString(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
