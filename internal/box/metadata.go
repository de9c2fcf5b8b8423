package box

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"filesight/internal/secret"
)

// CodeTupleAlreadyExists is Box's 409 code for creating a metadata instance
// that already exists on the file.
const CodeTupleAlreadyExists = "tuple_already_exists"

func (c *Client) metadataURL(fileID, scope, template string) string {
	return c.api("/2.0/files/{}/metadata/{}/{}", fileID, scope, template)
}

func checkMetadataArgs(op, fileID, scope, template string) error {
	if err := requireID(op, "file ID", fileID); err != nil {
		return err
	}
	if err := requireID(op, "metadata scope", scope); err != nil {
		return err
	}
	return requireID(op, "metadata template", template)
}

// GetMetadata reads one metadata instance
// (GET /2.0/files/{id}/metadata/{scope}/{template}) into out, e.g. a
// *map[string]any or a *SkillsDocument.
func (c *Client) GetMetadata(ctx context.Context, token secret.String, fileID, scope, template string, out any) error {
	const op = "GET /2.0/files/{id}/metadata/{scope}/{template}"
	if err := checkMetadataArgs(op, fileID, scope, template); err != nil {
		return err
	}
	if out == nil {
		return fmt.Errorf("box: %s: nil destination", op)
	}
	// Box's description lists 201 for this read; accept both.
	return c.doJSON(ctx, request{op: op, method: http.MethodGet, url: c.metadataURL(fileID, scope, template), token: token,
		accept: []int{http.StatusOK, http.StatusCreated}}, out)
}

// GetSkillsCards reads the file's global/boxSkillsCards instance.
func (c *Client) GetSkillsCards(ctx context.Context, token secret.String, fileID string) (*SkillsDocument, error) {
	var d SkillsDocument
	if err := c.GetMetadata(ctx, token, fileID, SkillsScope, SkillsTemplate, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// ListMetadata returns every metadata instance on a file (GET /2.0/files/{id}/metadata).
func (c *Client) ListMetadata(ctx context.Context, token secret.String, fileID string) ([]map[string]any, error) {
	const op = "GET /2.0/files/{id}/metadata"
	if err := requireID(op, "file ID", fileID); err != nil {
		return nil, err
	}
	var ans struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := c.doJSON(ctx, request{op: op, method: http.MethodGet, url: c.api("/2.0/files/{}/metadata", fileID), token: token,
		accept: []int{http.StatusOK}}, &ans); err != nil {
		return nil, err
	}
	if ans.Entries == nil {
		ans.Entries = []map[string]any{}
	}
	return ans.Entries, nil
}

// DeleteMetadata removes one metadata instance (DELETE ...; 204). A missing
// instance is a 404 *Error.
func (c *Client) DeleteMetadata(ctx context.Context, token secret.String, fileID, scope, template string) error {
	const op = "DELETE /2.0/files/{id}/metadata/{scope}/{template}"
	if err := checkMetadataArgs(op, fileID, scope, template); err != nil {
		return err
	}
	return c.doJSON(ctx, request{op: op, method: http.MethodDelete, url: c.metadataURL(fileID, scope, template), token: token,
		accept: []int{http.StatusNoContent, http.StatusOK}}, nil)
}

// UpsertMetadata creates or updates a metadata instance so that every
// top-level key of doc has doc's value, whatever state the instance was in:
// it POSTs doc (201); when Box answers 409 tuple_already_exists it PUTs a
// JSON Patch (application/json-patch+json) that replaces each key (adding
// the ones the instance lacks). Repeating the call is therefore harmless,
// which is what activity retries need. Keys of the instance that doc does
// not name are left untouched; "$" keys of doc are ignored.
//
// To tell replace from add it reads the instance first. If that read is
// refused (403: a write-only token) every key gets "add", which RFC 6902
// defines to replace an existing member. global/boxSkillsCards is not read:
// its only key "cards" always exists and Box documents only "replace" for it.
func (c *Client) UpsertMetadata(ctx context.Context, token secret.String, fileID, scope, template string, doc map[string]any) error {
	const opPost = "POST /2.0/files/{id}/metadata/{scope}/{template}"
	const opPut = "PUT /2.0/files/{id}/metadata/{scope}/{template}"
	if err := checkMetadataArgs(opPost, fileID, scope, template); err != nil {
		return err
	}
	clean := make(map[string]any, len(doc))
	for k, v := range doc {
		if !strings.HasPrefix(k, "$") {
			clean[k] = v
		}
	}
	body := jsonBody(clean)
	u := c.metadataURL(fileID, scope, template)
	// Two rounds: should the instance vanish between the 409 and the patch
	// (a concurrent delete), creating it again is right.
	for round := 0; ; round++ {
		err := c.doJSON(ctx, request{op: opPost, method: http.MethodPost, url: u, token: token, body: body,
			ctype: "application/json", accept: []int{http.StatusCreated, http.StatusOK}}, nil)
		e, isBox := AsError(err)
		if err == nil || !isBox || e.StatusCode != http.StatusConflict || e.Code != CodeTupleAlreadyExists {
			return err
		}
		var ops []PatchOp
		if scope == SkillsScope && template == SkillsTemplate {
			ops = UpsertPatch(map[string]any{"cards": true}, clean)
		} else {
			var existing map[string]any
			err := c.GetMetadata(ctx, token, fileID, scope, template, &existing)
			switch {
			case err == nil:
			case IsStatus(err, http.StatusForbidden):
				existing = nil
			case IsStatus(err, http.StatusNotFound) && round == 0:
				continue
			default:
				return err
			}
			ops = UpsertPatch(existing, clean)
		}
		if len(ops) == 0 {
			return nil
		}
		err = c.doJSON(ctx, request{op: opPut, method: http.MethodPut, url: u, token: token, body: jsonBody(ops),
			ctype: "application/json-patch+json", accept: []int{http.StatusOK, http.StatusCreated}}, nil)
		if IsStatus(err, http.StatusNotFound) && round == 0 {
			continue
		}
		if err == nil {
			c.log.DebugContext(ctx, "box: metadata instance existed; patched", "file_id", fileID, "scope", scope, "template", template, "ops", len(ops))
		}
		return err
	}
}

// UpsertSkillsCards sets the file's Box Skills cards (global/boxSkillsCards)
// to exactly cards, creating the instance or replacing its card list, so a
// retried write never duplicates cards. The cards are checked with
// ValidateSkillsCards first; an invalid card is a *SchemaError and nothing
// is sent.
func (c *Client) UpsertSkillsCards(ctx context.Context, token secret.String, fileID string, cards []Card) error {
	if cards == nil {
		cards = []Card{}
	}
	if err := ValidateSkillsCards(jsonBody(SkillsDocument{Cards: cards})); err != nil {
		return fmt.Errorf("box: skills cards for file %s: %w", fileID, err)
	}
	return c.UpsertMetadata(ctx, token, fileID, SkillsScope, SkillsTemplate, map[string]any{"cards": cards})
}
