package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/samplemedia"
	"filesight/workflows"
)

// setupBox creates the inbox folder and its FILE.UPLOADED webhook pointing
// at the starter, unless they exist, and records their IDs in dev.env.
func (s *Stack) setupBox(ctx context.Context) error {
	bc, err := boxClient(ctx, s.env, s.log)
	if err != nil {
		return err
	}
	s.bc = bc
	folderID, created, err := EnsureInbox(ctx, bc)
	if err != nil {
		return err
	}
	if created {
		s.out.Printf("created folder %s (id %s)", InboxFolderName, folderID)
	}
	address := "http://" + s.get("STARTER_ADDR") + "/webhooks/box"
	prevID, _ := s.env.Get("FILESIGHT_INBOX_WEBHOOK_ID")
	prevAddr, _ := s.env.Get("FILESIGHT_INBOX_WEBHOOK_ADDRESS")
	hookID, made, err := EnsureWebhook(ctx, bc, folderID, address, prevID, prevAddr)
	if err != nil {
		return err
	}
	if made {
		s.out.Printf("created webhook %s: FILE.UPLOADED on folder %s → %s", hookID, folderID, address)
	}
	s.env.Set("FILESIGHT_INBOX_FOLDER_ID", folderID)
	s.env.Set("FILESIGHT_INBOX_WEBHOOK_ID", hookID)
	s.env.Set("FILESIGHT_INBOX_WEBHOOK_ADDRESS", address)
	return s.env.Save()
}

// EnsureInbox returns the ID of the inbox folder under the root folder,
// creating it when absent.
func EnsureInbox(ctx context.Context, bc *box.Client) (id string, created bool, err error) {
	find := func() (string, error) {
		items, err := bc.ListFolderItems(ctx, "", "0")
		if err != nil {
			return "", fmt.Errorf("listing the root folder: %w", err)
		}
		for _, it := range items {
			if it.Type == "folder" && it.Name == InboxFolderName {
				return it.ID, nil
			}
		}
		return "", nil
	}
	if id, err := find(); err != nil || id != "" {
		return id, false, err
	}
	f, err := bc.CreateFolder(ctx, "", "0", InboxFolderName)
	if box.IsStatus(err, http.StatusConflict) {
		// Created meanwhile by someone else.
		id, err := find()
		return id, false, err
	}
	if err != nil {
		return "", false, fmt.Errorf("creating folder %s: %w", InboxFolderName, err)
	}
	return f.ID, true, nil
}

// EnsureWebhook makes sure exactly one webhook watches the folder for
// FILE.UPLOADED and delivers to address. Box's webhook listing omits the
// address, so the previous run's webhook (prevID, prevAddr from dev.env) is
// reused only when it still exists and the address has not changed; any
// other webhook on the folder is replaced.
func EnsureWebhook(ctx context.Context, bc *box.Client, folderID, address, prevID, prevAddr string) (id string, created bool, err error) {
	hooks, err := bc.ListWebhooks(ctx, "")
	if err != nil {
		return "", false, fmt.Errorf("listing webhooks: %w", err)
	}
	for _, h := range hooks {
		if h.Target.Type != "folder" || h.Target.ID != folderID {
			continue
		}
		known := h.ID == prevID && prevAddr == address
		if known || (h.Address == address && hasTrigger(h.Triggers, "FILE.UPLOADED")) {
			return h.ID, false, nil
		}
		if err := bc.DeleteWebhook(ctx, "", h.ID); err != nil && !box.IsStatus(err, http.StatusNotFound) {
			return "", false, fmt.Errorf("replacing webhook %s: %w", h.ID, err)
		}
	}
	h, err := bc.CreateWebhook(ctx, "", "folder", folderID, address, "FILE.UPLOADED")
	if err != nil {
		return "", false, fmt.Errorf("creating the inbox webhook: %w", err)
	}
	return h.ID, true, nil
}

func hasTrigger(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// Upload puts a local file into the folder: a new file, or a new version
// when a file of that name exists (Box answers 409 item_name_in_use).
func Upload(ctx context.Context, bc *box.Client, folderID, path, name string) (*box.File, error) {
	if name == "" {
		name = filepath.Base(path)
	}
	open := func() (*os.File, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		return f, nil
	}
	f, err := open()
	if err != nil {
		return nil, err
	}
	up, err := bc.UploadFile(ctx, "", folderID, name, f)
	f.Close()
	if err == nil {
		return up, nil
	}
	if !box.IsStatus(err, http.StatusConflict) {
		return nil, fmt.Errorf("uploading %s: %w", name, err)
	}
	items, lerr := bc.ListFolderItems(ctx, "", folderID)
	if lerr != nil {
		return nil, fmt.Errorf("uploading %s: name in use, and listing the folder failed: %w", name, lerr)
	}
	for _, it := range items {
		if it.Type == "file" && it.Name == name {
			f, err := open()
			if err != nil {
				return nil, err
			}
			defer f.Close()
			up, err := bc.UploadVersion(ctx, "", it.ID, name, f)
			if err != nil {
				return nil, fmt.Errorf("uploading a new version of %s (file %s): %w", name, it.ID, err)
			}
			return up, nil
		}
	}
	return nil, fmt.Errorf("uploading %s: %w", name, err)
}

// samplePath generates the sample talk once and reuses it afterwards.
func (s *Stack) samplePath(ctx context.Context) (string, error) {
	dst := filepath.Join(s.dataDir, "samples", SampleName)
	if st, err := os.Stat(dst); err == nil && st.Size() > 0 {
		return dst, nil
	}
	s.out.Printf("generating the sample video (ffmpeg + flite, about 30 s of talk)")
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".gen-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	p, err := samplemedia.GenerateTalk(ctx, tmp, samplemedia.DefaultTalk())
	if err != nil {
		return "", fmt.Errorf("generating the sample video: %w", err)
	}
	if err := os.Rename(p, dst); err != nil {
		return "", err
	}
	return dst, nil
}

func (s *Stack) processSample(ctx context.Context) error {
	path, err := s.samplePath(ctx)
	if err != nil {
		return err
	}
	f, err := Upload(ctx, s.bc, s.get("FILESIGHT_INBOX_FOLDER_ID"), path, SampleName)
	if err != nil {
		return err
	}
	s.out.Printf("uploaded %s as file %s version %s", SampleName, f.ID, f.VersionID())
	res, err := FollowWorkflow(ctx, s.tc, s.bc, s.env, f, s.out.Printf, s.opts.SampleTimeout)
	if err != nil {
		return err
	}
	if len(res.Cards) == 0 {
		return fmt.Errorf("the sample's workflow ended with outcome %q and wrote no cards: %s", res.Outcome, res.Message)
	}
	return nil
}

// ConsoleURL is localbox's web console, or a file's page there when fileID
// is set.
func ConsoleURL(localboxURL, fileID string) string {
	u := strings.TrimRight(localboxURL, "/") + "/app/"
	if fileID != "" {
		u += "file/" + url.PathEscape(fileID)
	}
	return u
}

// UIWorkflowURL is the Temporal UI page of a workflow run.
func UIWorkflowURL(uiBase, namespace, workflowID, runID string) string {
	u := strings.TrimRight(uiBase, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID) + "/history"
	}
	return u
}

// FollowWorkflow waits for the workflow of an uploaded file version to
// appear (the webhook starts it), prints its UI link, reports stage changes,
// waits for its result and prints the cards written on the file.
func FollowWorkflow(ctx context.Context, tc client.Client, bc *box.Client, env *EnvFile, f *box.File, printf func(string, ...any), timeout time.Duration) (*workflows.ProcessFileResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	id := workflows.WorkflowID(f.ID, f.VersionID())
	ns, _ := env.Get("TEMPORAL_NAMESPACE")
	ui, _ := env.Get("TEMPORAL_UI_URL")

	var runID string
	deadline := time.Now().Add(2 * time.Minute)
	hinted := false
	for runID == "" {
		d, err := tc.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			runID = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
			continue
		case !errors.As(err, &nf):
			return nil, fmt.Errorf("looking for workflow %s: %w", id, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("workflow %s was not started within 2 minutes of the upload: check the webhook deliveries (localbox admin API, logs/starter.log)", id)
		}
		if !hinted && time.Until(deadline) < 90*time.Second {
			printf("waiting for the webhook to start workflow %s", id)
			hinted = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	printf("workflow %s started: %s", id, UIWorkflowURL(ui, ns, id, runID))
	if lb, _ := env.Get("LOCALBOX_PUBLIC_URL"); lb != "" {
		printf("file %s in the console: %s", f.ID, ConsoleURL(lb, f.ID))
	}

	run := tc.GetWorkflow(ctx, id, runID)
	resc := make(chan error, 1)
	var res workflows.ProcessFileResult
	go func() { resc <- run.Get(ctx, &res) }()
	var lastStage workflows.Stage
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-resc:
			if err != nil {
				return nil, fmt.Errorf("workflow %s failed: %w", id, err)
			}
			printf("workflow %s finished: outcome %s, media %s, %d card(s) %v", id, res.Outcome, res.MediaKind, len(res.Cards), res.Cards)
			if res.Message != "" {
				printf("  %s", res.Message)
			}
			if len(res.Failed) > 0 {
				printf("  failed: %s", strings.Join(res.Failed, ", "))
			}
			printCards(ctx, bc, f, printf)
			return &res, nil
		case <-tick.C:
			if v, err := tc.QueryWorkflow(ctx, id, runID, workflows.QueryProgress); err == nil {
				var p workflows.Progress
				if v.Get(&p) == nil && p.Stage != lastStage {
					lastStage = p.Stage
					printf("workflow %s: stage %s", id, p.Stage)
				}
			}
		}
	}
}

// printCards prints a summary of the Skills cards on the file.
func printCards(ctx context.Context, bc *box.Client, f *box.File, printf func(string, ...any)) {
	doc, err := bc.GetSkillsCards(ctx, "", f.ID)
	if err != nil {
		printf("reading the cards of file %s: %v", f.ID, err)
		return
	}
	if doc == nil || len(doc.Cards) == 0 {
		printf("no cards on file %s", f.ID)
		return
	}
	printf("cards on file %s (%s):", f.ID, f.Name)
	for _, c := range doc.Cards {
		title := c.SkillCardType
		if c.SkillCardTitle != nil && c.SkillCardTitle.Message != "" {
			title = c.SkillCardTitle.Message
		}
		if c.Status != nil {
			printf("  %-10s %-22s %s %s", c.SkillCardType, title, c.Status.Code, c.Status.Message)
			continue
		}
		var texts []string
		for _, e := range c.Entries {
			if e.Text != "" {
				texts = append(texts, e.Text)
			}
			if len(texts) == 6 {
				break
			}
		}
		printf("  %-10s %-22s %3d entries: %s", c.SkillCardType, title, len(c.Entries), ellipsize(strings.Join(texts, " · "), 110))
	}
}

func ellipsize(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
