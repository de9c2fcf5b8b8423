package box

import (
	"encoding/json"
	"slices"
	"strings"
)

// JSON Patch (RFC 6902) operation names.
const (
	PatchAdd     = "add"
	PatchRemove  = "remove"
	PatchReplace = "replace"
	PatchTest    = "test"
	PatchMove    = "move"
	PatchCopy    = "copy"
)

// PatchOp is one RFC 6902 operation, as Box's metadata PUT expects it
// (Content-Type: application/json-patch+json).
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"`
	Value any    `json:"value,omitempty"`
}

// MarshalJSON writes "value" for add, replace and test even when it is
// null or empty (RFC 6902 requires the member), and leaves it out otherwise.
func (p PatchOp) MarshalJSON() ([]byte, error) {
	type wire struct {
		Op    string           `json:"op"`
		Path  string           `json:"path"`
		From  string           `json:"from,omitempty"`
		Value *json.RawMessage `json:"value,omitempty"`
	}
	w := wire{Op: p.Op, Path: p.Path, From: p.From}
	switch p.Op {
	case PatchAdd, PatchReplace, PatchTest:
		b, err := json.Marshal(p.Value)
		if err != nil {
			return nil, err
		}
		raw := json.RawMessage(b)
		w.Value = &raw
	}
	return json.Marshal(w)
}

// PointerEscape escapes one reference token of a JSON Pointer (RFC 6901):
// "~" becomes "~0" and "/" becomes "~1".
func PointerEscape(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}

// PointerUnescape reverses PointerEscape.
func PointerUnescape(token string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
}

// UpsertPatch builds the patch that sets every top-level key of doc on an
// existing metadata instance: "replace" for keys the instance already has,
// "add" for the others. existing may be nil when the instance could not be
// read; then every key gets "add", which RFC 6902 (§4.1) defines to replace
// an existing member and create a missing one. Box's read-only "$" fields
// of doc are skipped, keys of the instance that doc does not mention are
// left alone, and operations are in key order so the same input always
// gives the same patch.
func UpsertPatch(existing, doc map[string]any) []PatchOp {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		if strings.HasPrefix(k, "$") {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ops := make([]PatchOp, 0, len(keys))
	for _, k := range keys {
		op := PatchAdd
		if _, ok := existing[k]; ok {
			op = PatchReplace
		}
		ops = append(ops, PatchOp{Op: op, Path: "/" + PointerEscape(k), Value: doc[k]})
	}
	return ops
}
