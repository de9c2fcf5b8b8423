package localbox

import (
	"slices"
	"testing"
)

func TestParseSearchQuery(t *testing.T) {
	for _, c := range []struct {
		in, expr string
		positive []string
		err      bool
	}{
		{in: "talk", expr: `"talk"`, positive: []string{`"talk"`}},
		{in: "  better   data ", expr: `"better" OR "data"`, positive: []string{`"better"`, `"data"`}},
		{in: "marketing AND BoxWorks", expr: `"marketing" AND "BoxWorks"`, positive: []string{`"marketing"`, `"BoxWorks"`}},
		{in: "marketing AND NOT BoxWorks", expr: `"marketing" NOT "BoxWorks"`, positive: []string{`"marketing"`}},
		{in: "a NOT b OR c", expr: `"a" NOT "b" OR "c"`, positive: []string{`"a"`, `"c"`}},
		{in: `"Blue Box" crate`, expr: `"Blue Box" OR "crate"`, positive: []string{`"Blue Box"`, `"crate"`}},
		{in: `"AND"`, expr: `"AND"`, positive: []string{`"AND"`}},
		{in: `and or not`, expr: `"and" OR "or" OR "not"`, positive: []string{`"and"`, `"or"`, `"not"`}},
		{in: `say "it`, expr: `"say" OR "it"`, positive: []string{`"say"`, `"it"`}},
		{in: `x" OR "y`, expr: `"x" OR " OR " OR "y"`, positive: []string{`"x"`, `" OR "`, `"y"`}},
		{in: `NEAR(a b) col:x ^y`, expr: `"NEAR(a" OR "b)" OR "col:x" OR "^y"`, positive: []string{`"NEAR(a"`, `"b)"`, `"col:x"`, `"^y"`}},
		{in: `AND talk OR`, expr: `"talk"`, positive: []string{`"talk"`}},
		{in: `- & talk`, expr: `"talk"`, positive: []string{`"talk"`}},
		{in: "", err: true},
		{in: "AND OR", err: true},
		{in: "- &", err: true},
		{in: "NOT talk", err: true},
	} {
		got, err := parseSearchQuery(c.in)
		if c.err {
			if err == nil {
				t.Errorf("%q: no error, got %q", c.in, got.expr)
			}
			continue
		}
		if err != nil || got.expr != c.expr || !slices.Equal(got.positive, c.positive) {
			t.Errorf("%q: %q %q %v, want %q %q", c.in, got.expr, got.positive, err, c.expr, c.positive)
		}
	}
	q, _ := parseSearchQuery("a b")
	if got := q.inColumns([]string{"name", "cards"}); got != `{name cards} : ("a" OR "b")` {
		t.Errorf("inColumns: %q", got)
	}
	if got := q.anyPositive(); got != `"a" OR "b"` {
		t.Errorf("anyPositive: %q", got)
	}
}
