package starter

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/client"

	"filesight/internal/box"
	"filesight/internal/codec"
	"filesight/internal/config"
	"filesight/internal/program"
	"filesight/internal/provider"
	"filesight/internal/provider/catalog"
	"filesight/internal/provider/mlengineapi"
	"filesight/internal/temporalclient"
	"filesight/workflows"
)

const usage = `usage: starter [command] [flags]

commands:
  serve                        receive Box webhooks and ML callbacks (default)
  start --file-id ID           start processing one file (latest version, or --version-id)
  backfill --folder-id ID      start processing every file of a folder at a bounded rate

Configuration comes from the environment; see docs/starter.md.
`

// Env is where Main reads its configuration.
type Env = program.Env

// Main runs the starter program (program.Func).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, env Env) int {
	env = program.OrOS(env)
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return program.ExitOK
	}
	var cfg Config
	if err := config.LoadFrom(ctx, &cfg, env); err != nil {
		fmt.Fprintf(stderr, "starter: %v\n", err)
		return program.ExitUsage
	}
	log := program.NewLogger(stderr, program.LogText, cfg.LogLevel)
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, cfg, args, env, stderr, log)
	case "start":
		err = runStart(ctx, cfg, args, env, stdout, stderr, log)
	case "backfill":
		err = runBackfill(ctx, cfg, args, env, stdout, stderr, log)
	default:
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", cmd, usage)
		return program.ExitUsage
	}
	switch code := program.ExitCode(err); code {
	case program.ExitUsage:
		fmt.Fprintf(stderr, "starter %s: %v\n", cmd, err)
		return code
	case program.ExitFailure:
		log.Error("starter failed", "command", cmd, "error", err)
		return code
	default:
		return code
	}
}

// temporalClient builds the Temporal client with filesight's encrypted data
// converter. lazy defers connecting to the first call, so the webhook server
// comes up (and answers 503) while Temporal is down.
func temporalClient(ctx context.Context, env Env, log *slog.Logger, lazy bool) (client.Client, *codec.Keyring, codec.Config, error) {
	var tcfg temporalclient.Config
	var ccfg codec.Config
	if err := config.LoadFrom(ctx, &tcfg, env); err != nil {
		return nil, nil, ccfg, err
	}
	if err := config.LoadFrom(ctx, &ccfg, env); err != nil {
		return nil, nil, ccfg, err
	}
	kr, err := ccfg.Keyring()
	if err != nil {
		return nil, nil, ccfg, err
	}
	opts, err := tcfg.ClientOptions(log.With("component", "temporal-client"), codec.NewDataConverter(kr, ccfg.Options()))
	if err != nil {
		return nil, nil, ccfg, err
	}
	opts = WithSignalRequestIDs(opts)
	var c client.Client
	if lazy {
		c, err = client.NewLazyClient(opts)
	} else {
		c, err = client.DialContext(ctx, opts)
	}
	if err != nil {
		return nil, nil, ccfg, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w", tcfg.Address, tcfg.Namespace, err)
	}
	return c, kr, ccfg, nil
}

func runServe(ctx context.Context, cfg Config, args []string, env Env, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if err := cfg.ValidateServe(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	tc, kr, ccfg, err := temporalClient(ctx, env, log, true)
	if err != nil {
		return err
	}
	defer tc.Close()

	callbacks := map[string]CallbackProvider{}
	if !cfg.MLEngineCallbackKey.IsZero() || !cfg.MLEngineCallbackSecondaryKey.IsZero() {
		callbacks[mlengineapi.DefaultName] = MLEngineCallbacks(cfg.MLEngineCallbackKey, cfg.MLEngineCallbackSecondaryKey)
	} else {
		log.Warn("MLENGINE_CALLBACK_KEY is not set: mlengine callbacks are refused (the workflow still polls)")
	}
	readers, err := callbackReaders(ctx, env)
	if err != nil {
		return err
	}
	for name, r := range readers {
		callbacks[name] = CallbackProvider{Reader: r}
	}
	opts := cfg.ServiceOptions()
	opts.Logger = log
	api, err := NewHandler(HandlerConfig{
		Service:       NewService(tc, opts),
		BoxVerifier:   box.NewWebhookVerifier(cfg.BoxWebhookPrimaryKey, cfg.BoxWebhookSecondaryKey),
		ParseBoxEvent: ParseBoxEvent,
		Callbacks:     callbacks,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Ready: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	apiLn, err := Listen("STARTER_ADDR", cfg.Addr)
	if err != nil {
		return err
	}
	ls := []Listener{{Name: "api", Listener: apiLn, Handler: api}}
	if cfg.CodecEnabled() {
		var scfg codec.ServerConfig
		if err := config.LoadFrom(ctx, &scfg, env); err != nil {
			apiLn.Close()
			return fmt.Errorf("codec server (set STARTER_CODEC_ADDR=off to run it elsewhere): %w", err)
		}
		verifier, err := scfg.AccessTokenVerifier()
		if err != nil {
			apiLn.Close()
			return err
		}
		codecLn, err := Listen("STARTER_CODEC_ADDR", cfg.CodecAddr)
		if err != nil {
			apiLn.Close()
			return err
		}
		ch := codec.NewHTTPHandler(codec.Codecs(kr, ccfg.ServerOptions()), codec.HTTPOptions{
			Token: scfg.Token, AccessTokens: verifier, AllowedOrigins: scfg.AllowedOrigins, Logger: log.With("component", "codec"),
		})
		ls = append(ls, Listener{Name: "codec", Listener: codecLn, Handler: ch})
		log.Info("codec server enabled", "addr", codecLn.Addr().String(), "cors_origins", scfg.AllowedOrigins,
			"active_key_id", kr.ActiveKeyID(), "shared_token", !scfg.Token.IsZero(), "oidc_issuer", scfg.OIDCIssuer, "oidc_audience", scfg.OIDCAudience)
	}
	return Serve(ctx, log, cfg.ShutdownTimeout, ls...)
}

// callbackReaders are the cloud adapters' callback readers, for each adapter
// whose callback key (VIDEOINDEXER_CALLBACK_KEY, ASSEMBLYAI_CALLBACK_KEY)
// is set: the starter needs those keys only, the same the workers sign
// the callback URLs with.
func callbackReaders(ctx context.Context, env Env) (map[string]provider.CallbackReader, error) {
	var pc catalog.Config
	if err := config.LoadFrom(ctx, &pc, env); err != nil {
		return nil, program.Usage(err)
	}
	if err := pc.ValidateCallbacks(); err != nil {
		return nil, program.Usage(err)
	}
	return catalog.CallbackReaders(pc), nil
}

func boxClient(ctx context.Context, env Env, log *slog.Logger) (*box.Client, error) {
	var bcfg box.EnvConfig
	if err := config.LoadFrom(ctx, &bcfg, env); err != nil {
		return nil, err
	}
	c, err := box.NewClient(bcfg.Config(nil, log.With("component", "box")))
	if err != nil {
		return nil, fmt.Errorf("%w (set BOX_API_URL, BOX_UPLOAD_URL, BOX_CLIENT_ID, BOX_CLIENT_SECRET, BOX_SUBJECT_TYPE, BOX_SUBJECT_ID)", err)
	}
	return c, nil
}

func runStart(ctx context.Context, cfg Config, args []string, env Env, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fileID := fs.String("file-id", "", "Box file ID (required)")
	versionID := fs.String("version-id", "", "file version ID; default: ask Box for the current version")
	rerun := fs.Bool("rerun-failed", false, "replace a closed run of this file version that failed, timed out or was cancelled")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if *fileID == "" || fs.NArg() > 0 {
		return program.Usage(errors.New("--file-id is required and no positional arguments are accepted"))
	}
	in := workflows.ProcessFileInput{FileID: *fileID, FileVersionID: *versionID, Source: SourceManual}
	if in.FileVersionID == "" {
		bc, err := boxClient(ctx, env, log)
		if err != nil {
			return err
		}
		f, err := bc.GetFile(ctx, "", *fileID, "name", "size", "file_version", "parent")
		if err != nil {
			return fmt.Errorf("looking up file %s: %w", *fileID, err)
		}
		if f.VersionID() == "" {
			return fmt.Errorf("file %s: Box returned no file_version", *fileID)
		}
		in.FileVersionID, in.FileName, in.Size = f.VersionID(), f.Name, f.Size
		if f.Parent != nil {
			in.ParentFolderID = f.Parent.ID
		}
	}
	tc, _, _, err := temporalClient(ctx, env, log, false)
	if err != nil {
		return err
	}
	defer tc.Close()
	opts := cfg.ServiceOptions()
	opts.Logger = log
	d, err := NewService(tc, opts).Start(ctx, in, StartOptions{RerunFailed: *rerun})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(d)
}

func runBackfill(ctx context.Context, cfg Config, args []string, env Env, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	folderID := fs.String("folder-id", "", "Box folder ID (required; 0 is the root)")
	recursive := fs.Bool("recursive", false, "descend into subfolders")
	rate := fs.Float64("rate", 2, "most workflow starts per second")
	checkpoint := fs.String("checkpoint", "", "progress file to resume from and save to (default: none)")
	dryRun := fs.Bool("dry-run", false, "list what would be started, start nothing")
	if err := fs.Parse(args); err != nil {
		return program.Usage(err)
	}
	if *folderID == "" || fs.NArg() > 0 {
		return program.Usage(errors.New("--folder-id is required and no positional arguments are accepted"))
	}
	if *rate <= 0 {
		return program.Usage(errors.New("--rate must be positive"))
	}
	bc, err := boxClient(ctx, env, log)
	if err != nil {
		return err
	}
	var tc TemporalClient = dryRunClient{}
	if !*dryRun {
		c, _, _, err := temporalClient(ctx, env, log, false)
		if err != nil {
			return err
		}
		defer c.Close()
		tc = c
	}
	opts := cfg.ServiceOptions()
	opts.Logger = log
	b := &Backfill{
		Service: NewService(tc, opts), Lister: bc, Rate: *rate, Recursive: *recursive,
		Checkpoint: *checkpoint, DryRun: *dryRun, Logger: log,
	}
	rep, err := b.Run(ctx, *folderID)
	if encErr := json.NewEncoder(stdout).Encode(rep); encErr != nil && err == nil {
		err = encErr
	}
	if err != nil && *checkpoint != "" {
		return fmt.Errorf("%w (progress saved in %s; run the same command again to resume)", err, *checkpoint)
	}
	return err
}

// dryRunClient refuses every call: a dry run must never reach Temporal.
type dryRunClient struct{}

func (dryRunClient) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, errors.New("dry run: no workflow is started")
}

func (dryRunClient) SignalWorkflow(context.Context, string, string, string, any) error {
	return errors.New("dry run: no signal is sent")
}
