package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/luawrap/luawrap/luaenv"
	"github.com/luawrap/luawrap/supervisor"
)

var errHelp = errors.New("help requested")

const usageHead = `Usage: luawrap [flags] -- COMMAND [ARGS...]
       luawrap --script FILE [--entry NAME] [--listen [ADDR:]PORT]... -- COMMAND [ARGS...]

Runs COMMAND under a seccomp filter and emulates the Lua socket ULP of the
2019 thesis for it: setsockopt(SOL_TCP, TCP_ULP, "lua") and the SOL_LUA
options work on a stock kernel, and every receive on a socket accepted from
a Lua listener is judged by the listener's script first. With --script, an
unmodified COMMAND's TCP listeners get the script (all of them, or those
--listen selects). Scripts: docs/scripts.md.
luawrap exits with COMMAND's exit status (128+signal if it was killed).

Flags (each may also be set with the environment variable shown):
`

// parseArgs reads flags, with LUAWRAP_* environment variables as defaults
// that the command line overrides.
func parseArgs(args []string, getenv func(string) string, out io.Writer) (supervisor.Config, error) {
	var cfg supervisor.Config
	fs := flag.NewFlagSet("luawrap", flag.ContinueOnError)
	fs.SetOutput(out)
	o := &cfg.Options
	fs.BoolVar(&o.TrapAll, "trap-all", false, "trap the receive family on every fd, so Lua sockets can take any fd number\n(needed by select()-based programs; every read of every file then costs a round trip)")
	fs.BoolVar(&o.AllowIOUring, "allow-io-uring", false, "let the program use io_uring (its operations bypass the script: unsafe)")
	onError := fs.String("on-error", "refuse", "what a script error does to the message: refuse (fail closed) or pass (the original module's behaviour)")
	fs.IntVar(&cfg.FDBase, "fd-base", 0, "first fd number of the managed range (default: the program's soft RLIMIT_NOFILE, at least 1024)")
	timeLimit := fs.Duration("time-limit", luaenv.DefaultLimits.Time, "wall-time limit for one script call")
	memLimit := fs.Int64("memory-limit", luaenv.DefaultLimits.Memory, "largest string or table (bytes) a script call may build")
	fs.IntVar(&o.MaxMessage, "max-message", supervisor.DefaultMaxMessage, "most queued bytes one script call sees")
	fs.IntVar(&o.Workers, "workers", 0, "goroutines answering the program's trapped calls (default: one per CPU); one leads and hands\nthe lead on only when calls are waiting, so concurrent connections are judged in parallel")
	script := fs.String("script", "", "Lua script to attach to the program's TCP listeners (all of them, or those --listen selects)")
	entry := fs.String("entry", supervisor.DefaultEntry, "the script's function called for each message")
	var listens []listenSpec
	listenFromEnv := false
	fs.Func("listen", "[ADDR:]PORT[,script=FILE][,entry=NAME]: attach only to listeners bound to PORT (and ADDR;\nIPv6 in brackets); repeat for several, each with its own script if given\n(the environment variable takes a space-separated list)", func(v string) error {
		for _, one := range strings.Fields(v) {
			l, err := parseListen(one)
			if err != nil {
				return err
			}
			listens = append(listens, l)
		}
		return nil
	})
	fs.DurationVar(&o.MoreTimeout, "more-timeout", supervisor.DefaultMoreTimeout, "how long an incomplete message (luawrap.more) may wait for the rest before it is refused")
	fs.DurationVar(&cfg.KillAfter, "kill-after", 0, "after forwarding SIGTERM or SIGINT, kill the program (and its process group) with SIGKILL\nif it is still running this long after (default: wait for it as long as it takes)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json (logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprint(out, usageHead)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(out, "  --%s  (%s)\n", f.Name, envName(f.Name))
			fmt.Fprintf(out, "        %s", strings.ReplaceAll(f.Usage, "\n", "\n        "))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	if len(listens) > 0 {
		listenFromEnv = true
	}
	envListens := listens
	listens = nil
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, errHelp
		}
		return cfg, err
	}
	if listenFromEnv && len(listens) == 0 {
		listens = envListens // the command line's --listen replace the environment's
	}
	cfg.Argv = fs.Args()
	if len(cfg.Argv) == 0 {
		fs.Usage()
		return cfg, errors.New("no command given (luawrap [flags] -- COMMAND [ARGS...])")
	}
	switch *onError {
	case "refuse":
	case "pass":
		o.OnErrorPass = true
	default:
		return cfg, fmt.Errorf("--on-error (%s) %q: want refuse or pass", envName("on-error"), *onError)
	}
	if *timeLimit <= 0 || *memLimit <= 0 {
		return cfg, fmt.Errorf("--time-limit (%s) and --memory-limit (%s) must be positive", envName("time-limit"), envName("memory-limit"))
	}
	o.Limits = luaenv.Limits{Time: *timeLimit, Memory: *memLimit}
	logger, err := newLogger(*logLevel, *logFormat, out)
	if err != nil {
		return cfg, err
	}
	o.Logger = logger
	if cfg.KillAfter < 0 {
		return cfg, fmt.Errorf("--kill-after (%s) must not be negative", envName("kill-after"))
	}
	if o.MoreTimeout <= 0 {
		return cfg, fmt.Errorf("--more-timeout (%s) must be positive", envName("more-timeout"))
	}
	rules, err := attachRules(*script, *entry, listens, readFile)
	if err != nil {
		return cfg, err
	}
	o.Attach = rules
	return cfg, nil
}

// envName maps a flag to its environment variable: trap-all → LUAWRAP_TRAP_ALL.
func envName(flagName string) string {
	return "LUAWRAP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level (%s) %q: %v", envName("log-level"), level, err)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)).With("prog", "luawrap"), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)).With("prog", "luawrap"), nil
	}
	return nil, fmt.Errorf("--log-format (%s) %q: want text or json", envName("log-format"), format)
}
