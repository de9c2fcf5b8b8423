// Command report reads a gremlins JSON report and prints one line:
//
//	RESULT mutation <package> efficacy=<percent> killed=<n> lived=<n> timed_out=<n> not_covered=<n> not_viable=<n> target=<percent>
//
// followed by " below_target" when the efficacy (killed / (killed + lived),
// gremlins' definition) is under the target. It appends the mutants that
// lived to the -survivors file, one per line: "<package>/<file>:<line>:<column> <mutator>".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"sort"
)

type report struct {
	Files []struct {
		Filename  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

func main() {
	pkg := flag.String("pkg", "", "package the report is of (for the output)")
	target := flag.Float64("target", 85, "efficacy percent the package must reach")
	survivors := flag.String("survivors", "", "file to append the surviving mutants to")
	flag.Parse()
	if flag.NArg() != 1 || *pkg == "" {
		fmt.Fprintln(os.Stderr, "usage: report -pkg P [-target N] [-survivors FILE] REPORT.json")
		os.Exit(2)
	}
	if err := run(*pkg, *target, *survivors, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(pkg string, target float64, survivorsPath, reportPath string) error {
	data, err := os.ReadFile(reportPath)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("%s: %w", reportPath, err)
	}
	count := map[string]int{}
	var lived []string
	for _, f := range r.Files {
		for _, m := range f.Mutations {
			count[m.Status]++
			if m.Status == "LIVED" {
				lived = append(lived, fmt.Sprintf("%s:%d:%d %s", path.Join(pkg, path.Base(f.Filename)), m.Line, m.Column, m.Type))
			}
		}
	}
	sort.Strings(lived)
	killed, survived := count["KILLED"], count["LIVED"]
	efficacy := 0.0
	if killed+survived > 0 {
		efficacy = 100 * float64(killed) / float64(killed+survived)
	}
	line := fmt.Sprintf("RESULT mutation %s efficacy=%.1f killed=%d lived=%d timed_out=%d not_covered=%d not_viable=%d target=%g",
		pkg, efficacy, killed, survived, count["TIMED OUT"], count["NOT COVERED"], count["NOT VIABLE"], target)
	if killed+survived == 0 || efficacy < target {
		line += " below_target"
	}
	fmt.Println(line)
	if survivorsPath != "" && len(lived) > 0 {
		f, err := os.OpenFile(survivorsPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		for _, l := range lived {
			fmt.Fprintln(f, l)
		}
		return f.Close()
	}
	return nil
}
