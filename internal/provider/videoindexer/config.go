package videoindexer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"filesight/internal/provider"
	"filesight/internal/secret"
)

// DefaultName is the provider name (JobRefs, /callbacks/videoindexer).
const DefaultName = "videoindexer"

// Where shots or scenes come from.
const (
	ScenesFromShots  = "shots"
	ScenesFromScenes = "scenes"
)

// Config configures the adapter. Every variable may also be given as
// NAME_FILE. The adapter is enabled when VIDEOINDEXER_ACCOUNT_ID is set.
//
// What the adapter needs, and why: a service principal (tenant, client ID,
// client secret) that may call generateAccessToken on the Video Indexer
// account resource (subscription, resource group, account name) in Azure
// Resource Manager; the account's ID and region (location) to address the
// data-plane API. The client secret is a third-party credential: no length
// rule, never logged.
type Config struct {
	TenantID       string        `env:"VIDEOINDEXER_TENANT_ID"`
	ClientID       string        `env:"VIDEOINDEXER_CLIENT_ID"`
	ClientSecret   secret.String `env:"VIDEOINDEXER_CLIENT_SECRET"`
	SubscriptionID string        `env:"VIDEOINDEXER_SUBSCRIPTION_ID"`
	ResourceGroup  string        `env:"VIDEOINDEXER_RESOURCE_GROUP"`
	AccountName    string        `env:"VIDEOINDEXER_ACCOUNT_NAME"`
	// AccountID (a GUID) and Location (the Azure region, e.g. westeurope)
	// are shown on the account's page in the Azure portal.
	AccountID string `env:"VIDEOINDEXER_ACCOUNT_ID"`
	Location  string `env:"VIDEOINDEXER_LOCATION"`

	// Endpoints (overridable for sovereign clouds and for tests).
	AuthorityURL  string `env:"VIDEOINDEXER_AUTHORITY_URL, default=https://login.microsoftonline.com"`
	ARMURL        string `env:"VIDEOINDEXER_ARM_URL, default=https://management.azure.com"`
	ARMAPIVersion string `env:"VIDEOINDEXER_ARM_API_VERSION, default=2025-04-01"`
	APIURL        string `env:"VIDEOINDEXER_API_URL, default=https://api.videoindexer.ai"`

	// IndexingPreset overrides the preset derived from the analyses asked
	// for (AudioOnly, VideoOnly or Default; or Basic*, Advanced*).
	IndexingPreset string `env:"VIDEOINDEXER_INDEXING_PRESET"`
	// StreamingPreset: NoStreaming avoids encoding (and its charge).
	StreamingPreset string `env:"VIDEOINDEXER_STREAMING_PRESET, default=NoStreaming"`
	// ExcludedAI lists models not to run. Faces and observed people are
	// off by default: identifying people is not what filesight is for.
	ExcludedAI []string `env:"VIDEOINDEXER_EXCLUDED_AI, default=Faces,ObservedPeople"`
	// Language is the source language (e.g. en-US, or auto); empty leaves
	// Video Indexer's default.
	Language string `env:"VIDEOINDEXER_LANGUAGE"`
	// ScenesFrom chooses what becomes the scenes timeline: shots (every
	// cut, like mlengine's scenes) or scenes (shots grouped by meaning).
	ScenesFrom string `env:"VIDEOINDEXER_SCENES_FROM, default=shots"`
	// LabelsAsKeywords adds visual labels to the keywords, ranked below
	// the spoken and written keywords (their score is halved).
	LabelsAsKeywords bool `env:"VIDEOINDEXER_LABELS_AS_KEYWORDS, default=true"`

	// JobTimeout is the job's deadline; PollInterval the pause between
	// status reads (indexing takes minutes; Video Indexer allows 10
	// requests a second and 120 a minute per account).
	JobTimeout   time.Duration `env:"VIDEOINDEXER_JOB_TIMEOUT, default=4h"`
	PollInterval time.Duration `env:"VIDEOINDEXER_POLL_INTERVAL, default=30s"`
	// RequestTimeout bounds one HTTP call; MaxResponseBytes one answer (an
	// index of a long video is large).
	RequestTimeout   time.Duration `env:"VIDEOINDEXER_REQUEST_TIMEOUT, default=60s"`
	MaxResponseBytes int64         `env:"VIDEOINDEXER_MAX_RESPONSE_BYTES, default=67108864"`

	// CallbackKey signs the callback URLs (shared with the starter, at
	// least 32 bytes); empty sends no callbackUrl (polling only).
	CallbackKey          secret.String `env:"VIDEOINDEXER_CALLBACK_KEY"`
	CallbackSecondaryKey secret.String `env:"VIDEOINDEXER_CALLBACK_SECONDARY_KEY"`
	// Name is the provider name (default videoindexer).
	Name string `env:"VIDEOINDEXER_PROVIDER_NAME, default=videoindexer"`
}

// Enabled reports whether the adapter is configured.
func (c Config) Enabled() bool { return c.AccountID != "" }

var (
	guidPattern     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	accountPattern  = regexp.MustCompile(`^[A-Za-z0-9-]{3,50}$`)
	locationPattern = regexp.MustCompile(`^[a-z0-9]+$`)
)

// Validate checks an enabled configuration (one with
// VIDEOINDEXER_ACCOUNT_ID); every message names its variable.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil // not configured: nothing to check
	}
	var errs []error
	for _, v := range []struct{ name, value string }{
		{"VIDEOINDEXER_TENANT_ID", c.TenantID}, {"VIDEOINDEXER_CLIENT_ID", c.ClientID},
		{"VIDEOINDEXER_CLIENT_SECRET", c.ClientSecret.Reveal()}, {"VIDEOINDEXER_SUBSCRIPTION_ID", c.SubscriptionID},
		{"VIDEOINDEXER_RESOURCE_GROUP", c.ResourceGroup}, {"VIDEOINDEXER_ACCOUNT_NAME", c.AccountName},
		{"VIDEOINDEXER_ACCOUNT_ID", c.AccountID}, {"VIDEOINDEXER_LOCATION", c.Location},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s is required", v.name))
		}
	}
	if c.AccountID != "" && !guidPattern.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("VIDEOINDEXER_ACCOUNT_ID must be a GUID, not %q", c.AccountID))
	}
	if c.AccountName != "" && !accountPattern.MatchString(c.AccountName) {
		errs = append(errs, fmt.Errorf("VIDEOINDEXER_ACCOUNT_NAME must be 3 to 50 letters, digits or -, not %q", c.AccountName))
	}
	if c.Location != "" && !locationPattern.MatchString(c.Location) {
		errs = append(errs, fmt.Errorf("VIDEOINDEXER_LOCATION must be an Azure region name such as westeurope, not %q", c.Location))
	}
	errs = append(errs, provider.CheckHTTPURLs(
		provider.Setting[string]{Name: "VIDEOINDEXER_AUTHORITY_URL", Value: c.AuthorityURL},
		provider.Setting[string]{Name: "VIDEOINDEXER_ARM_URL", Value: c.ARMURL},
		provider.Setting[string]{Name: "VIDEOINDEXER_API_URL", Value: c.APIURL})...)
	if !slices.Contains([]string{ScenesFromShots, ScenesFromScenes}, c.ScenesFrom) {
		errs = append(errs, fmt.Errorf("VIDEOINDEXER_SCENES_FROM must be shots or scenes, not %q", c.ScenesFrom))
	}
	errs = append(errs, provider.CheckPositive(
		provider.Setting[time.Duration]{Name: "VIDEOINDEXER_JOB_TIMEOUT", Value: c.JobTimeout},
		provider.Setting[time.Duration]{Name: "VIDEOINDEXER_POLL_INTERVAL", Value: c.PollInterval},
		provider.Setting[time.Duration]{Name: "VIDEOINDEXER_REQUEST_TIMEOUT", Value: c.RequestTimeout})...)
	errs = append(errs, provider.CheckPositive(provider.Setting[int64]{Name: "VIDEOINDEXER_MAX_RESPONSE_BYTES", Value: c.MaxResponseBytes})...)
	errs = append(errs, secret.CheckShared("VIDEOINDEXER_CALLBACK_KEY", c.CallbackKey),
		secret.CheckShared("VIDEOINDEXER_CALLBACK_SECONDARY_KEY", c.CallbackSecondaryKey))
	return errors.Join(errs...)
}

func (c Config) name() string {
	if c.Name == "" {
		return DefaultName
	}
	return c.Name
}

func (c Config) signer() provider.CallbackSigner {
	return provider.CallbackSigner{Provider: c.name(), Key: c.CallbackKey, Secondary: c.CallbackSecondaryKey}
}

// Policy is the job deadline and poll interval.
func (c Config) Policy() provider.Policy {
	return provider.Policy{JobTimeout: c.JobTimeout, PollInterval: c.PollInterval}
}

// String describes the configuration without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("videoindexer.Config{name: %s, account: %s (%s, %s), api: %s, callbacks: %t}",
		c.name(), c.AccountName, c.AccountID, c.Location, c.APIURL, c.CallbackKey != "")
}
