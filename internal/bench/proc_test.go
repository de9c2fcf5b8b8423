package bench

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"filesight/internal/testutil"
)

// TestProcessTree: a child process counts in this process's tree (its RSS
// and its CPU, under its command name), and this process is not below its
// child.
func TestProcessTree(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	self := os.Getpid()
	var procs map[int]procStat
	testutil.WaitFor(t, 10*time.Second, "the child in /proc as sleep", func() bool {
		procs = procStats()
		return procs[child.Process.Pid].comm == "sleep"
	})
	if !below(procs, child.Process.Pid, self) || !below(procs, self, self) || below(procs, self, child.Process.Pid) {
		t.Errorf("below: child under self %t, self under self %t, self under child %t",
			below(procs, child.Process.Pid, self), below(procs, self, self), below(procs, self, child.Process.Pid))
	}
	own, tree := statusKiB(self, "VmRSS:"), treeRSS(self)
	if kid := statusKiB(child.Process.Pid, "VmRSS:"); own <= 0 || kid <= 0 || tree < own+kid/2 {
		t.Errorf("treeRSS %d KiB; this process %d KiB, the child %d KiB", tree, own, kid)
	}
	if _, ok := treeCPU()["sleep"]; !ok {
		t.Errorf("treeCPU has no entry for the child: %v", treeCPU())
	}
}
