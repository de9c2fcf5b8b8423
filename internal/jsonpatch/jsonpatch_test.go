package jsonpatch

import (
	"encoding/json"
	"reflect"
	"testing"
)

func mustJSON(t testing.TB, s string) any {
	t.Helper()
	v, err := DecodeValue([]byte(s))
	if err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

func TestApplyPatch(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string // want "" = error expected
	}{
		{"add member", `{"a":1}`, `[{"op":"add","path":"/b","value":2}]`, `{"a":1,"b":2}`},
		{"add replaces member", `{"a":1}`, `[{"op":"add","path":"/a","value":[1]}]`, `{"a":[1]}`},
		{"add into array", `{"a":[1,3]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2,3]}`},
		{"append", `{"a":[1]}`, `[{"op":"add","path":"/a/-","value":2}]`, `{"a":[1,2]}`},
		{"add at length", `{"a":[1]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2]}`},
		{"add past length", `{"a":[1]}`, `[{"op":"add","path":"/a/2","value":2}]`, ""},
		{"add to missing parent", `{}`, `[{"op":"add","path":"/a/b","value":1}]`, ""},
		{"add whole doc", `{"a":1}`, `[{"op":"add","path":"","value":{"b":2}}]`, `{"b":2}`},
		{"add null", `{}`, `[{"op":"add","path":"/n","value":null}]`, `{"n":null}`},
		{"remove member", `{"a":1,"b":2}`, `[{"op":"remove","path":"/a"}]`, `{"b":2}`},
		{"remove element", `{"a":[1,2,3]}`, `[{"op":"remove","path":"/a/1"}]`, `{"a":[1,3]}`},
		{"remove missing", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, ""},
		{"remove dash", `{"a":[1]}`, `[{"op":"remove","path":"/a/-"}]`, ""},
		{"remove root", `{"a":1}`, `[{"op":"remove","path":""}]`, ""},
		{"replace", `{"a":1}`, `[{"op":"replace","path":"/a","value":"x"}]`, `{"a":"x"}`},
		{"replace element", `{"a":[1,2]}`, `[{"op":"replace","path":"/a/0","value":9}]`, `{"a":[9,2]}`},
		{"replace missing", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, ""},
		{"move", `{"a":{"b":1},"c":{}}`, `[{"op":"move","from":"/a/b","path":"/c/d"}]`, `{"a":{},"c":{"d":1}}`},
		{"move in array", `{"a":[1,2,3,4]}`, `[{"op":"move","from":"/a/1","path":"/a/3"}]`, `{"a":[1,3,4,2]}`},
		{"move to self", `{"a":1}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":1}`},
		{"move into child", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, ""},
		{"move missing", `{}`, `[{"op":"move","from":"/a","path":"/b"}]`, ""},
		{"copy", `{"a":{"x":1}}`, `[{"op":"copy","from":"/a","path":"/b"},{"op":"replace","path":"/b/x","value":2}]`, `{"a":{"x":1},"b":{"x":2}}`},
		{"test ok", `{"a":[1,{"b":"c"}]}`, `[{"op":"test","path":"/a","value":[1,{"b":"c"}]}]`, `{"a":[1,{"b":"c"}]}`},
		{"test numbers by value", `{"a":1}`, `[{"op":"test","path":"/a","value":1.0e0}]`, `{"a":1}`},
		{"test zero signs", `{"a":0}`, `[{"op":"test","path":"/a","value":-0.0}]`, `{"a":0}`},
		{"test fails", `{"a":"1"}`, `[{"op":"test","path":"/a","value":1}]`, ""},
		{"test null vs missing", `{}`, `[{"op":"test","path":"/a","value":null}]`, ""},
		{"test order-insensitive objects", `{"a":{"x":1,"y":2}}`, `[{"op":"test","path":"/a","value":{"y":2,"x":1}}]`, `{"a":{"x":1,"y":2}}`},
		{"escapes", `{"a/b":1,"m~n":2}`, `[{"op":"replace","path":"/a~1b","value":3},{"op":"remove","path":"/m~0n"}]`, `{"a/b":3}`},
		{"empty key", `{"":1}`, `[{"op":"replace","path":"/","value":2}]`, `{"":2}`},
		{"leading zero index", `{"a":[1,2]}`, `[{"op":"replace","path":"/a/01","value":3}]`, ""},
		{"index into scalar", `{"a":1}`, `[{"op":"add","path":"/a/b","value":1}]`, ""},
		{"all or nothing", `{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":2}]`, ""},
		{"ignored members", `{}`, `[{"op":"add","path":"/a","value":1,"from":"/zzz","extra":true}]`, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustJSON(t, tt.doc)
			before, _ := json.Marshal(doc)
			ops, err := Parse([]byte(tt.patch))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := ops.Apply(doc)
			if after, _ := json.Marshal(doc); string(after) != string(before) {
				t.Fatalf("the input document was modified: %s -> %s", before, after)
			}
			if tt.want == "" {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			// Compared without jsonEqual (which test uses): plain
			// encoding/json values and reflect.DeepEqual.
			g, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var gv, wv any
			if json.Unmarshal(g, &gv) != nil || json.Unmarshal([]byte(tt.want), &wv) != nil || !reflect.DeepEqual(gv, wv) {
				t.Fatalf("got %s, want %s", g, tt.want)
			}
		})
	}
}

func TestParsePatchErrors(t *testing.T) {
	for _, p := range []string{
		``, `{}`, `null`, `[1]`, `[null]`, `[{"path":"/a"}]`, `[{"op":"add"}]`, `[{"op":"add","path":"/a"}]`,
		`[{"op":"move","path":"/a"}]`, `[{"op":"frob","path":"/a"}]`, `[{"op":1,"path":"/a"}]`,
		`[{"op":"add","path":"a","value":1}]`, `[{"op":"add","path":"/~2","value":1}]`, `[{"op":"add","path":"/~","value":1}]`,
		`[] []`, `[{"op":"add","path":"/a","value":{"x":1,"x":2}}]`,
	} {
		if _, err := Parse([]byte(p)); err == nil {
			t.Errorf("Parse(%s) accepted", p)
		}
	}
}

func TestNumbersEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		eq   bool
	}{
		{"1", "1.0", true}, {"100", "1e2", true}, {"1.50", "15e-1", true}, {"0", "-0", true}, {"0.0", "0e10", true},
		{"1", "2", false}, {"-1", "1", false}, {"1e999999999999999999999", "1e999999999999999999999", true},
		{"1e999999999999999999999", "1e999999999999999999998", false}, {"123456789012345678901234567890", "1.23456789012345678901234567890e29", true},
	} {
		if got := numbersEqual(c.a, c.b); got != c.eq {
			t.Errorf("numbersEqual(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

// FuzzApplyPatch: no input panics; a refused patch never changes the
// document; an accepted one yields a JSON value equal to itself after a
// round trip, and a test of the whole result against itself passes.
func FuzzApplyPatch(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":null}],"c":"d"}`), []byte(`[{"op":"add","path":"/a/-","value":{"x":1}},{"op":"move","from":"/c","path":"/a/0"}]`))
	f.Add([]byte(`{"cards":[{"x":1}]}`), []byte(`[{"op":"test","path":"/cards/0/x","value":1.0},{"op":"remove","path":"/cards/0"}]`))
	f.Add([]byte(`[]`), []byte(`[{"op":"copy","from":"","path":"/-"}]`))
	f.Add([]byte(`{"a~b":{"c/d":[true]}}`), []byte(`[{"op":"replace","path":"/a~0b/c~1d/0","value":false}]`))
	f.Fuzz(func(t *testing.T, docJSON, patchJSON []byte) {
		doc, err := DecodeValue(docJSON)
		if err != nil {
			return
		}
		ops, err := Parse(patchJSON)
		if err != nil {
			return
		}
		before, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("marshal input: %v", err)
		}
		got, err := ops.Apply(doc)
		after, _ := json.Marshal(doc)
		if string(after) != string(before) {
			t.Fatalf("Apply modified its input: %s -> %s", before, after)
		}
		if err != nil {
			return
		}
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
		back, err := DecodeValue(enc)
		if err != nil {
			t.Fatalf("result does not decode: %v (%s)", err, enc)
		}
		if !jsonEqual(got, back) {
			t.Fatalf("result changed in a round trip: %s", enc)
		}
		self := Patch{{Op: "test", Path: []string{}, rawPath: "", Value: back, hasValue: true}}
		if _, err := self.Apply(got); err != nil {
			t.Fatalf("the result does not test equal to itself: %v", err)
		}
		// The size the applier tracks is json.Marshal's, after every operation.
		if _, err := applyTracked(t, doc, ops, Limits{}); err != nil {
			t.Fatalf("applied once, refused when tracked: %v", err)
		}
	})
}

// stringSize is exactly the length json.Marshal writes, escapes and
// invalid bytes included.
func TestStringSizeMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "a", `"`, `\`, "\n\r\t", "\x00\x1f", "<>&", "\x7f", "\x80", "\xff\xfe", "é", "\u2028\u2029", "😀", "a\x80b"} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := stringSize(s); got != int64(len(b)) {
			t.Errorf("stringSize(%q) = %d, json.Marshal writes %d bytes (%s)", s, got, len(b), b)
		}
	}
}
