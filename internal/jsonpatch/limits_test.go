package jsonpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"filesight/internal/testutil"
)

// applyTracked applies p like ApplyWithin and checks, after every
// operation, that the size the applier tracks is the size json.Marshal
// writes.
func applyTracked(t *testing.T, doc any, p Patch, lim Limits) (any, error) {
	t.Helper()
	a := newApplier(doc, lim)
	cur := deepCopy(doc)
	for i, op := range p {
		var err error
		if cur, err = a.applyOp(cur, op); err != nil {
			return nil, err
		}
		b, err := json.Marshal(cur)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != a.size {
			t.Fatalf("after operation %d (%s %s) the tracked size is %d, json.Marshal writes %d bytes: %s", i, op.Op, op.rawPath, a.size, len(b), b)
		}
	}
	return cur, nil
}

func TestTrackedSizeIsExact(t *testing.T) {
	doc := mustJSON(t, `{"a":[1,"x<y>&\"\\\n\u0001é\u2028",{"b":null,"c":true,"d":false}],"e":{},"f":[],"":-1.5e3}`)
	p, err := Parse([]byte(`[
		{"op":"add","path":"/g","value":{"h":["i",2]}},
		{"op":"add","path":"/e/k","value":"v"},
		{"op":"add","path":"/f/-","value":1},
		{"op":"add","path":"/f/0","value":0},
		{"op":"add","path":"/a","value":"replaced by add"},
		{"op":"replace","path":"/e/k","value":{"deeper":[true]}},
		{"op":"copy","from":"/g","path":"/f/1"},
		{"op":"move","from":"/g/h","path":"/e/moved"},
		{"op":"move","from":"/f/0","path":"/f/-"},
		{"op":"remove","path":"/f/0"},
		{"op":"remove","path":"/e"},
		{"op":"remove","path":"/f/0"},
		{"op":"remove","path":"/f/0"},
		{"op":"test","path":"/g","value":{}},
		{"op":"replace","path":"","value":{"z":"<&>"}},
		{"op":"copy","from":"","path":"/self"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyTracked(t, doc, p, Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestLimits(t *testing.T) {
	big := `"` + strings.Repeat("x", 200) + `"`
	for _, tc := range []struct {
		name, doc, patch string
		lim              Limits
		tooLarge         bool // want ErrTooLarge
		fails            bool // want another error
	}{
		{"within", `{}`, `[{"op":"add","path":"/a","value":"` + strings.Repeat("x", 80) + `"}]`, Limits{MaxBytes: 100}, false, false},
		{"add past", `{}`, `[{"op":"add","path":"/a","value":` + big + `}]`, Limits{MaxBytes: 100}, true, false},
		{"exactly at the limit", `{}`, `[{"op":"add","path":"/a","value":"` + strings.Repeat("x", 92) + `"}]`, Limits{MaxBytes: 100}, false, false},
		{"one byte past", `{}`, `[{"op":"add","path":"/a","value":"` + strings.Repeat("x", 93) + `"}]`, Limits{MaxBytes: 100}, true, false},
		{"copies past", `{"a":"` + strings.Repeat("x", 40) + `"}`, `[{"op":"copy","from":"/a","path":"/b"},{"op":"copy","from":"/a","path":"/c"}]`, Limits{MaxBytes: 100}, true, false},
		{"shrinking an oversized document", `{"a":` + big + `,"b":1}`, `[{"op":"replace","path":"/a","value":"short"}]`, Limits{MaxBytes: 100}, false, false},
		{"replacing within an oversized document without growth", `{"a":` + big + `}`, `[{"op":"replace","path":"/a","value":` + big + `}]`, Limits{MaxBytes: 100}, false, false},
		{"growing an oversized document", `{"a":` + big + `}`, `[{"op":"add","path":"/b","value":1}]`, Limits{MaxBytes: 100}, true, false},
		{"too deep", `{"a":{"b":{}}}`, `[{"op":"add","path":"/a/b/c","value":[[1]]}]`, Limits{MaxDepth: 4}, false, true},
		{"deep enough", `{"a":{"b":{}}}`, `[{"op":"add","path":"/a/b/c","value":[1]}]`, Limits{MaxDepth: 4}, false, false},
		{"copy into a deeper place", `{"a":{"b":{"c":{}}}}`, `[{"op":"copy","from":"/a","path":"/a/b/c/d"}]`, Limits{MaxDepth: 5}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			doc := mustJSON(t, tc.doc)
			_, err = applyTracked(t, doc, p, tc.lim)
			_, apiErr := p.ApplyWithin(doc, tc.lim)
			switch {
			case tc.tooLarge:
				if !errors.Is(err, ErrTooLarge) || !errors.Is(apiErr, ErrTooLarge) || !strings.Contains(apiErr.Error(), "would grow past 100 bytes") {
					t.Fatalf("want ErrTooLarge, got %v / %v", err, apiErr)
				}
			case tc.fails:
				if err == nil || apiErr == nil || !strings.Contains(apiErr.Error(), "nested deeper") {
					t.Fatalf("want a depth error, got %v / %v", err, apiErr)
				}
			default:
				if err != nil || apiErr != nil {
					t.Fatalf("refused: %v / %v", err, apiErr)
				}
			}
		})
	}
}

// selfCopies is a patch of n operations that each copy the whole document
// into a new member of itself, doubling it.
func selfCopies(n int) []byte {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"","path":"/c%02d"}`, i)
	}
	return []byte("[" + strings.Join(ops, ",") + "]")
}

// TestSelfCopyGrowthStops: 20 copies of the root double a 25-byte document
// to 25 MB; the applier stops at the operation that would pass the limit,
// and what it allocates stays in proportion to the limit.
func TestSelfCopyGrowthStops(t *testing.T) {
	patch := selfCopies(20)
	p, err := Parse(patch)
	if err != nil {
		t.Fatal(err)
	}
	doc := mustJSON(t, `{"name":"quarterly review"}`)
	const limit = 1 << 20
	var applyErr error
	mem := testutil.MeasureMemory(func() { _, applyErr = p.ApplyWithin(doc, Limits{MaxBytes: limit}) })
	t.Logf("%d-byte patch, 20 self-copies, 1 MiB limit: %v; %s", len(patch), applyErr, mem)
	var pe *Error
	if !errors.As(applyErr, &pe) || !errors.Is(applyErr, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", applyErr)
	}
	// Refused at the first operation that would pass the limit: the
	// operations before it fit, and doubling what they made does not.
	before, err := p[:pe.Index].ApplyWithin(doc, Limits{MaxBytes: limit})
	if err != nil {
		t.Fatalf("the %d operations before the refused one: %v", pe.Index, err)
	}
	if b, _ := json.Marshal(before); len(b) > limit || 2*len(b) <= limit {
		t.Errorf("refused at operation %d, when the document had %d bytes", pe.Index, len(b))
	}
	if mem.Allocated > 64<<20 {
		t.Errorf("allocated %d bytes for a 1 MiB limit", mem.Allocated)
	}
}

// TestWorkIsBounded: copying a large member back and forth thousands of
// times stays within the size limit but not within the work budget.
func TestWorkIsBounded(t *testing.T) {
	ops := []string{}
	for range 2000 {
		ops = append(ops, `{"op":"copy","from":"/big","path":"/x"}`, `{"op":"remove","path":"/x"}`)
	}
	p, err := Parse([]byte("[" + strings.Join(ops, ",") + "]"))
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"big": strings.Repeat("x", 100_000)}
	_, err = p.ApplyWithin(doc, Limits{MaxBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "too much") {
		t.Fatalf("want a work refusal, got %v", err)
	}
}

// For patches of every shape that grow a document, the result's own size
// is the smallest MaxBytes that accepts it: one byte less refuses it.
func TestLimitIsExactForEveryShape(t *testing.T) {
	for _, tc := range []struct{ name, doc, patch string }{
		{"add to an empty object", `{}`, `[{"op":"add","path":"/a","value":"xyz"}]`},
		{"add to an object", `{"a":1}`, `[{"op":"add","path":"/b","value":"xyz"}]`},
		{"add to an empty array", `{"a":[]}`, `[{"op":"add","path":"/a/-","value":"xyz"}]`},
		{"add to an array", `{"a":[1]}`, `[{"op":"add","path":"/a/0","value":"xyz"}]`},
		{"add replacing a member", `{"a":1,"b":2}`, `[{"op":"add","path":"/a","value":"xyz"}]`},
		{"replace with a larger value", `{"a":1,"b":2}`, `[{"op":"replace","path":"/b","value":[1,2,3]}]`},
		{"replace an element", `{"a":[1,2]}`, `[{"op":"replace","path":"/a/1","value":{"k":"v"}}]`},
		{"copy", `{"a":{"k":"v"}}`, `[{"op":"copy","from":"/a","path":"/b"}]`},
		{"copy into an array", `{"a":[{"k":"v"}]}`, `[{"op":"copy","from":"/a/0","path":"/a/-"}]`},
		{"move to a longer name", `{"a":1}`, `[{"op":"move","from":"/a","path":"/abcdef"}]`},
		{"replace the whole document", `{"a":1}`, `[{"op":"replace","path":"","value":{"a":1,"b":2}}]`},
		{"escaped characters", `{}`, `[{"op":"add","path":"/<&>","value":"\"\\\n\u2028"}]`},
	} {
		doc := mustJSON(t, tc.doc)
		p, err := Parse([]byte(tc.patch))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out, err := p.Apply(doc)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := json.Marshal(out)
		n := int64(len(b))
		if _, err := p.ApplyWithin(doc, Limits{MaxBytes: n}); err != nil {
			t.Errorf("%s: refused with MaxBytes %d, its result's size: %v", tc.name, n, err)
		}
		if _, err := p.ApplyWithin(doc, Limits{MaxBytes: n - 1}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: MaxBytes %d (one less than the result): %v, want ErrTooLarge", tc.name, n-1, err)
		}
	}
}

// MaxDepth is exact too: a result as deep as the limit passes, one level
// more does not.
func TestDepthLimitIsExact(t *testing.T) {
	doc := mustJSON(t, `{"a":{}}`)
	p, err := Parse([]byte(`[{"op":"add","path":"/a/b","value":[[1]]}]`))
	if err != nil {
		t.Fatal(err)
	}
	// The result {"a":{"b":[[1]]}} nests 4 levels.
	if _, err := p.ApplyWithin(doc, Limits{MaxDepth: 4}); err != nil {
		t.Errorf("MaxDepth 4: %v", err)
	}
	if _, err := p.ApplyWithin(doc, Limits{MaxDepth: 3}); err == nil {
		t.Error("MaxDepth 3 accepted a result 4 levels deep")
	}
}
