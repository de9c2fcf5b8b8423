package bench

import (
	"reflect"
	"testing"
	"time"
)

// TestChaosPlan: a seed always gives the same plan; the upload-keyed faults
// come in their order, each at a file that exists with at least one file
// before the first and one after the last, near its share of the uploads.
func TestChaosPlan(t *testing.T) {
	for _, files := range []int{5, 20, 100} {
		for seed := uint64(1); seed <= 200; seed++ {
			p := newChaosPlan(seed, files)
			if q := newChaosPlan(seed, files); !reflect.DeepEqual(p, q) {
				t.Fatalf("files %d, seed %d: two plans differ:\n%+v\n%+v", files, seed, p, q)
			}
			want := []faultKind{faultWorker, faultStarter, faultForge, faultLocalbox, faultMLEngine}
			if len(p.uploadFaults) != len(want) {
				t.Fatalf("files %d, seed %d: %d faults, want %d", files, seed, len(p.uploadFaults), len(want))
			}
			last := 1
			for k, f := range p.uploadFaults {
				if f.kind != want[k] || f.at < last || f.at > files-1 {
					t.Errorf("files %d, seed %d: fault %d is %s at %d (previous at %d)", files, seed, k, f.kind, f.at, last)
				}
				if files >= 20 {
					share := []float64{0.20, 0.35, 0.45, 0.60, 0.75}[k]
					// ±3 %, then rounded to a file.
					tol := 0.03 + 0.5/float64(files) + 1e-9
					if got := float64(f.at) / float64(files); got < share-tol || got > share+tol {
						t.Errorf("files %d, seed %d: %s at %.3f of the uploads, want %.2f±%.3f", files, seed, f.kind, got, share, tol)
					}
				}
				if f.outage < 2*time.Second || f.outage >= 5*time.Second {
					t.Errorf("files %d, seed %d: %s outage %s", files, seed, f.kind, f.outage)
				}
				last = f.at
			}
			if p.replay < 0 || p.replay >= max(1, files/4) || len(p.gaps) != files {
				t.Errorf("files %d, seed %d: replay %d, %d gaps", files, seed, p.replay, len(p.gaps))
			}
		}
	}
	if reflect.DeepEqual(newChaosPlan(1, 100), newChaosPlan(2, 100)) {
		t.Error("seeds 1 and 2 give the same plan")
	}
}
