package jsonpatch_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"filesight/internal/jsonpatch"
)

// sameJSON compares two JSON texts without any code of this package:
// encoding/json decodes both (numbers as float64, objects as maps) and
// reflect.DeepEqual compares the results.
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("expected %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// apply parses and applies a patch; it returns the result as JSON text, or
// the error of Parse or Apply.
func apply(t *testing.T, doc, patch string) ([]byte, error) {
	t.Helper()
	d, err := jsonpatch.DecodeValue([]byte(doc))
	if err != nil {
		t.Fatalf("document %s: %v", doc, err)
	}
	p, err := jsonpatch.Parse([]byte(patch))
	if err != nil {
		return nil, err
	}
	out, err := p.Apply(d)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	return b, nil
}

// TestRFC6902AppendixA runs every example of RFC 6902, Appendix A, with the
// RFC's documents, patches and results ("" where the RFC says the patch is
// an error).
func TestRFC6902AppendixA(t *testing.T) {
	for _, tc := range []struct {
		section, doc, patch, want string
	}{
		{"A.1 adding an object member", `{"foo":"bar"}`,
			`[{"op":"add","path":"/baz","value":"qux"}]`,
			`{"baz":"qux","foo":"bar"}`},
		{"A.2 adding an array element", `{"foo":["bar","baz"]}`,
			`[{"op":"add","path":"/foo/1","value":"qux"}]`,
			`{"foo":["bar","qux","baz"]}`},
		{"A.3 removing an object member", `{"baz":"qux","foo":"bar"}`,
			`[{"op":"remove","path":"/baz"}]`,
			`{"foo":"bar"}`},
		{"A.4 removing an array element", `{"foo":["bar","qux","baz"]}`,
			`[{"op":"remove","path":"/foo/1"}]`,
			`{"foo":["bar","baz"]}`},
		{"A.5 replacing a value", `{"baz":"qux","foo":"bar"}`,
			`[{"op":"replace","path":"/baz","value":"boo"}]`,
			`{"baz":"boo","foo":"bar"}`},
		{"A.6 moving a value", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
			`[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			`{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`},
		{"A.7 moving an array element", `{"foo":["all","grass","cows","eat"]}`,
			`[{"op":"move","from":"/foo/1","path":"/foo/3"}]`,
			`{"foo":["all","cows","eat","grass"]}`},
		{"A.8 testing a value: success", `{"baz":"qux","foo":["a",2,"c"]}`,
			`[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
			`{"baz":"qux","foo":["a",2,"c"]}`},
		{"A.9 testing a value: error", `{"baz":"qux"}`,
			`[{"op":"test","path":"/baz","value":"bar"}]`,
			``},
		{"A.10 adding a nested member object", `{"foo":"bar"}`,
			`[{"op":"add","path":"/child","value":{"grandchild":{}}}]`,
			`{"foo":"bar","child":{"grandchild":{}}}`},
		{"A.11 ignoring unrecognized elements", `{"foo":"bar"}`,
			`[{"op":"add","path":"/baz","value":"qux","xyz":123}]`,
			`{"foo":"bar","baz":"qux"}`},
		{"A.12 adding to a nonexistent target", `{"foo":"bar"}`,
			`[{"op":"add","path":"/baz/bat","value":"qux"}]`,
			``},
		{"A.13 invalid JSON Patch document", `{"foo":"bar"}`,
			`[{"op":"add","path":"/baz","value":"qux","op":"remove"}]`,
			``},
		{"A.14 ~ escape ordering", `{"/":9,"~1":10}`,
			`[{"op":"test","path":"/~01","value":10}]`,
			`{"/":9,"~1":10}`},
		{"A.15 comparing strings and numbers", `{"/":9,"~1":10}`,
			`[{"op":"test","path":"/~01","value":"10"}]`,
			``},
		{"A.16 adding an array value", `{"foo":["bar"]}`,
			`[{"op":"add","path":"/foo/-","value":["abc","def"]}]`,
			`{"foo":["bar",["abc","def"]]}`},
	} {
		got, err := apply(t, tc.doc, tc.patch)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: applied to %s, the RFC says it is an error", tc.section, got)
		case tc.want != "" && err != nil:
			t.Errorf("%s: %v", tc.section, err)
		case tc.want != "" && !sameJSON(t, got, []byte(tc.want)):
			t.Errorf("%s: got %s, want %s", tc.section, got, tc.want)
		}
	}
}

// The test operation's equality (RFC 6902 section 4.6), checked against
// encoding/json + reflect.DeepEqual on values where the two must agree, and
// on the cases where RFC 6902 asks for more (numbers by value, objects in
// any order) with the answers written out.
func TestTestOperationEquality(t *testing.T) {
	for _, tc := range []struct {
		doc, value string
		want       bool
	}{
		{`[1,2]`, `[1,2]`, true},
		{`[1,2]`, `[2,1]`, false}, // same length, other order
		{`[1,2]`, `[1,3]`, false},
		{`[1,2]`, `[1,2,3]`, false},
		{`[[1],[2]]`, `[[1],[3]]`, false},
		{`[{"a":1}]`, `[{"a":2}]`, false},
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{`{"a":1,"b":2}`, `{"a":1,"c":2}`, false}, // same size, other key
		{`{"a":1,"b":2}`, `{"a":1,"b":3}`, false},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":1,"b":2}`, `{"a":1}`, false},
		{`{"a":null}`, `{"b":null}`, false},
		{`{"a":null}`, `{}`, false},
		{`"x"`, `"y"`, false},
		{`"1"`, `1`, false},
		{`true`, `false`, false},
		{`true`, `1`, false},
		{`null`, `false`, false},
		{`null`, `null`, true},
		{`1`, `1.0`, true},
		{`10`, `1e1`, true},
		{`1`, `-1`, false},
		{`[]`, `{}`, false},
		{`{}`, `[]`, false},
		{`[]`, `[]`, true},
		{`{}`, `{}`, true},
	} {
		patch := `[{"op":"test","path":"/v","value":` + tc.value + `}]`
		_, err := apply(t, `{"v":`+tc.doc+`}`, patch)
		if got := err == nil; got != tc.want {
			t.Errorf("test %s against %s: passed=%v, want %v (%v)", tc.value, tc.doc, got, tc.want, err)
		}
		// Where plain decoding has nothing to normalise, the independent
		// comparison must agree.
		if tc.doc != `1` && tc.doc != `10` {
			if indep := sameJSON(t, []byte(tc.doc), []byte(tc.value)); indep != tc.want {
				t.Errorf("oracle disagrees on %s vs %s: fix the table", tc.doc, tc.value)
			}
		}
	}
}

// Errors name the operation they refuse (0-based, as RFC 6902 counts
// nothing: the index is ours), and only errors about the whole document
// name none.
func TestErrorsNameTheOperation(t *testing.T) {
	for _, tc := range []struct {
		doc, patch, want string
	}{
		{`{}`, `{"op":"add"}`, "the body must be a JSON array"},
		{`{}`, `[] []`, "unexpected data after the JSON Patch array"},
		{`{}`, `null`, "not null"},
		{`{}`, `[{"op":"add","path":"/a","value":1}, null]`, "operation 1: "},
		{`{}`, `[{"op":"frob","path":"/a"}]`, "operation 0: "},
		{`{"a":1}`, `[{"op":"add","path":"/b","value":1},{"op":"test","path":"/a","value":2}]`, "operation 1: "},
	} {
		_, err := apply(t, tc.doc, tc.patch)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q in it", tc.patch, err, tc.want)
		}
		if !strings.HasPrefix(tc.want, "operation") && err != nil && strings.Contains(err.Error(), "operation ") &&
			!strings.Contains(err.Error(), "JSON Patch operations") {
			t.Errorf("%s: a document-level error names an operation: %v", tc.patch, err)
		}
		var pe *jsonpatch.Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: %T is not a *jsonpatch.Error", tc.patch, err)
		} else if want := strings.HasPrefix(tc.want, "operation"); (pe.Index >= 0) != want {
			t.Errorf("%s: Index %d", tc.patch, pe.Index)
		}
	}
}

// A patch may hold MaxOperations operations, not one more.
func TestMaxOperations(t *testing.T) {
	op := `{"op":"test","path":"","value":{}}`
	many := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(op+",", n), ",") + "]" }
	if _, err := jsonpatch.Parse([]byte(many(jsonpatch.MaxOperations))); err != nil {
		t.Errorf("%d operations: %v", jsonpatch.MaxOperations, err)
	}
	_, err := jsonpatch.Parse([]byte(many(jsonpatch.MaxOperations + 1)))
	var pe *jsonpatch.Error
	if !errors.As(err, &pe) || pe.Index >= 0 || strings.Contains(err.Error(), "operation 1") {
		t.Errorf("%d operations: %v, want a refusal of the whole document", jsonpatch.MaxOperations+1, err)
	}
}
