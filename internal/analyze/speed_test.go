package analyze

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filesight/internal/samplemedia"
)

// BenchmarkSpeedAgainstBase compares the analysis of this tree with the
// analysis of another revision (the baseline, "main" unless
// FILESIGHT_SPEED_BASE names another), measured in the same run: both are
// built as the bench program (./bench), and their engine child (which
// calls analyze.Run with every analysis and default options) analyses the
// same generated 3-minute 1280×720 talk, alternating, FILESIGHT_SPEED_ROUNDS
// times each (default 3). It prints RESULT lines: median wall time per
// minute of media, CPU time (the engine and every tool it ran), the change
// against the baseline, whether it stays within 10 % (issue 14's budget),
// and each side's transcript WER. It fails when both the median wall time
// and the median CPU time are more than 10 % worse than the baseline's.
//
//	go test -run '^$' -bench SpeedAgainstBase -benchtime 1x -timeout 60m ./internal/analyze
//
// It needs git and the Go toolchain; on 2 busy cores (load average 16–31)
// it took 20 minutes.
func BenchmarkSpeedAgainstBase(b *testing.B) {
	if b.N > 1 {
		b.Skip("one measurement per run: use -benchtime 1x")
	}
	base := os.Getenv("FILESIGHT_SPEED_BASE")
	if base == "" {
		base = "main"
	}
	rounds := 3
	if v := os.Getenv("FILESIGHT_SPEED_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("FILESIGHT_SPEED_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	dir := b.TempDir()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}

	// The two engines.
	headBin, baseBin, baseSrc := filepath.Join(dir, "bench-head"), filepath.Join(dir, "bench-base"), filepath.Join(dir, "base-src")
	rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", base).Output()
	if err != nil {
		b.Fatalf("git rev-parse %s: %v", base, err)
	}
	if err := os.MkdirAll(baseSrc, 0o755); err != nil {
		b.Fatal(err)
	}
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, base, baseSrc)
	if out, err := archive.CombinedOutput(); err != nil {
		b.Fatalf("export %s: %v: %s", base, err, out)
	}
	for _, build := range []struct{ src, out string }{{root, headBin}, {baseSrc, baseBin}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", build.out, "./bench")
		cmd.Dir = build.src
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build the bench program in %s: %v: %s", build.src, err, out)
		}
	}

	talk, err := samplemedia.GenerateTalkInfo(ctx, dir, speedTalk())
	if err != nil {
		b.Fatal(err)
	}
	minutes := talk.Duration / 60
	fmt.Printf("RESULT speed media %.2f min 1280x720@25 (%d slides); baseline %s (%s); %d rounds; load average %s\n",
		minutes, len(talk.Slides), base, strings.TrimSpace(string(rev)), rounds, loadAverage())

	type side struct {
		name      string
		bin       string
		wall, cpu []float64
		wer       float64
	}
	sides := []*side{{name: "baseline", bin: baseBin}, {name: "this tree", bin: headBin}}
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		for _, s := range sides {
			work := filepath.Join(dir, fmt.Sprintf("work-%d-%d", i, len(s.wall)))
			cmd := exec.CommandContext(ctx, s.bin, "-engine-child", "direct", talk.Path, work, "2")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			start := time.Now()
			out, err := cmd.Output()
			wall := time.Since(start)
			if err != nil {
				b.Fatalf("%s engine: %v: %s", s.name, err, stderr.String())
			}
			var rep struct {
				States map[string]string `json:"states"`
				Words  []string          `json:"words"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				b.Fatalf("%s engine report: %v", s.name, err)
			}
			if len(rep.States) == 0 || len(rep.Words) == 0 {
				b.Fatalf("%s engine: no analysis ran (%d states, %d words)", s.name, len(rep.States), len(rep.Words))
			}
			for a, st := range rep.States {
				if st != "succeeded" {
					b.Fatalf("%s engine: %s %s", s.name, a, st)
				}
			}
			s.wall = append(s.wall, wall.Seconds())
			s.cpu = append(s.cpu, (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
			s.wer = samplemedia.WER(talk.Words, rep.Words)
		}
	}
	b.StopTimer()
	for _, s := range sides {
		fmt.Printf("RESULT speed %-9s wall %s s (median %.1f s = %.2f s/min) | CPU median %.1f s = %.2f s/min | transcript WER %.1f %% (%d words)\n",
			s.name, fmtSeconds(s.wall), median(s.wall), median(s.wall)/minutes, median(s.cpu), median(s.cpu)/minutes, s.wer*100, len(talk.Words))
	}
	dWall := median(sides[1].wall)/median(sides[0].wall) - 1
	dCPU := median(sides[1].cpu)/median(sides[0].cpu) - 1
	verdict := "within the 10 % budget"
	if dWall > 0.1 && dCPU > 0.1 {
		verdict = "OVER the 10 % budget"
	}
	fmt.Printf("RESULT speed change against the baseline: wall %+.1f %%, CPU %+.1f %%: %s\n", dWall*100, dCPU*100, verdict)
	if dWall > 0.1 && dCPU > 0.1 {
		b.Errorf("analysis is %.1f %% (wall) and %.1f %% (CPU) slower than %s: more than 10 %%", dWall*100, dCPU*100, base)
	}
}

// speedTalk is a 3-minute 720p talk: twelve 15-second slides, each with a
// spoken paragraph of about ten seconds.
func speedTalk() samplemedia.TalkSpec {
	slides := []struct{ title, say string }{
		{"QUARTERLY REVIEW\nAgenda", "Good morning and welcome to the quarterly review. We will go through the numbers, the projects and the plans for the next three months."},
		{"REVENUE\nUp Twelve Percent", "Revenue grew by twelve percent this quarter. Most of the growth came from new customers in the northern region."},
		{"COSTS\nCloud and Staff", "Our costs went up as well, mainly for cloud storage and for the new people who joined the support team."},
		{"CUSTOMERS\nRetention", "Customer retention stayed high. Almost every customer who started last year has renewed the contract."},
		{"PRODUCT\nNew Features", "The product team shipped search across videos and a new way to share folders with partners outside the company."},
		{"SUPPORT\nResponse Times", "Support answered most questions within one hour, which is faster than the goal we set at the start of the year."},
		{"HIRING\nOpen Roles", "We are still hiring engineers and designers. Please send good people our way if you know anyone who is looking."},
		{"RISKS\nWhat Could Go Wrong", "The main risks are a slower market and the cost of storage. We have plans for both and will watch them closely."},
		{"SECURITY\nAudits Passed", "The security audit found no serious problems. A few small issues were fixed within a week of the report."},
		{"PARTNERS\nNew Deals", "Two new partners signed this quarter. They will help us reach customers in schools and in hospitals."},
		{"NEXT QUARTER\nGoals", "Next quarter we want to grow revenue again, keep costs flat, and make the product easier for new users."},
		{"QUESTIONS\nThank You", "Thank you for listening. We now have some time for questions, so please raise your hand or write in the chat."},
	}
	spec := samplemedia.TalkSpec{Width: 1280, Height: 720, FPS: 25}
	var paras []string
	for _, s := range slides {
		spec.Slides = append(spec.Slides, samplemedia.Slide{Text: s.title, Duration: 15})
		paras = append(paras, s.say)
	}
	spec.Script = strings.Join(paras, "\n\n")
	return spec
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtSeconds(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(s, ", ")
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
