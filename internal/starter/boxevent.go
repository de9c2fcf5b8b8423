package starter

import (
	"errors"
	"fmt"

	"filesight/internal/box"
)

// ParseBoxEvent decodes a verified Box v2 webhook body with the shared Box
// parser and checks that it names what a start needs. A FILE.* event must
// carry the file id and its version id; other triggers only need a trigger,
// because they are acknowledged and ignored.
func ParseBoxEvent(body []byte) (FileEvent, error) {
	ev, err := box.ParseWebhookEvent(body)
	if err != nil {
		return FileEvent{}, fmt.Errorf("malformed webhook event: %w", err)
	}
	if ev.Trigger == "" {
		return FileEvent{}, errors.New("webhook event without trigger")
	}
	fe := FileEvent{
		EventID:       ev.ID,
		Trigger:       ev.Trigger,
		FileID:        ev.Source.ID,
		FileVersionID: ev.Source.VersionID(),
		FileName:      ev.Source.Name,
		Size:          ev.Source.Size,
	}
	if ev.Source.Parent != nil {
		fe.ParentFolderID = ev.Source.Parent.ID
	}
	if fe.Trigger == TriggerFileUploaded {
		switch {
		case fe.FileID == "":
			return FileEvent{}, errors.New("webhook event without source file id")
		case fe.FileVersionID == "":
			return FileEvent{}, errors.New("webhook event without source file_version id")
		}
	}
	return fe, nil
}
