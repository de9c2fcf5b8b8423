package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	"filesight/internal/freeport"
)

// DefaultPortBase is the first port of the cluster's block (CLUSTER_PORT_BASE).
// The block (17200–17229) stays clear of `make up` (7233, 8233, 8088, 8081,
// 8700, 8710, 9090) and of the kernel's ephemeral range, so both stacks run
// side by side.
const DefaultPortBase = 17200

// MaxWorkers is how many filesight worker processes the port block has room for.
const MaxWorkers = 10

// Offsets of each listener from the port base. The table in
// docs/operations.md mirrors it.
const (
	offPostgres = iota
	offFrontend
	offFrontendHTTP
	offHistory
	offMatching
	offWorkerService
	offFrontendMembership
	offHistoryMembership
	offMatchingMembership
	offWorkerMembership
	offFrontendMetrics
	offHistoryMetrics
	offMatchingMetrics
	offWorkerMetrics
	offUI
	offStarter
	offCodec
	offLocalbox
	offMLEngine
	offWorkers // filesight worker i (1-based) serves metrics on offWorkers+i-1
)

const (
	// offVault follows the workers' range, so the offsets above stay as
	// they were before the vault joined the stack.
	offVault = offWorkers + MaxWorkers

	// NumPorts is the size of the block.
	NumPorts = offVault + 1
)

// Ports is the cluster's port block on 127.0.0.1.
type Ports struct {
	// Base is the first port; zero means DefaultPortBase.
	Base int
}

func (p Ports) addr(off int) string {
	base := p.Base
	if base == 0 {
		base = DefaultPortBase
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off))
}

// Validate checks that the whole block is a valid port range.
func (p Ports) Validate() error {
	// Temporal stores each service's membership port in its cluster
	// metadata as a PostgreSQL smallint: a port above 32767 makes the
	// history service fail at start.
	if p.Base < 1024 || p.Base+NumPorts-1 > maxPort {
		return fmt.Errorf("CLUSTER_PORT_BASE=%d: the cluster needs ports %d–%d, which must lie within 1024–%d (Temporal keeps membership ports in a PostgreSQL smallint)", p.Base, p.Base, p.Base+NumPorts-1, maxPort)
	}
	return nil
}

// maxPort is the highest port the cluster may use (see Validate).
const maxPort = 32767

// Postgres is PostgreSQL's address.
func (p Ports) Postgres() string { return p.addr(offPostgres) }

// GRPC is a Temporal service's gRPC address. (The internal worker service
// is configured with one but serves no gRPC API.)
func (p Ports) GRPC(s Service) string {
	return p.addr(map[Service]int{Frontend: offFrontend, History: offHistory, Matching: offMatching, Worker: offWorkerService}[s])
}

// Membership is a Temporal service's membership (ringpop) address.
func (p Ports) Membership(s Service) string {
	return p.addr(map[Service]int{Frontend: offFrontendMembership, History: offHistoryMembership, Matching: offMatchingMembership, Worker: offWorkerMembership}[s])
}

// Metrics is a Temporal service's Prometheus endpoint (host:port; path /metrics).
func (p Ports) Metrics(s Service) string {
	return p.addr(map[Service]int{Frontend: offFrontendMetrics, History: offHistoryMetrics, Matching: offMatchingMetrics, Worker: offWorkerMetrics}[s])
}

// FrontendHTTP is the frontend's HTTP API address.
func (p Ports) FrontendHTTP() string { return p.addr(offFrontendHTTP) }

// UI is the Temporal UI server's address.
func (p Ports) UI() string { return p.addr(offUI) }

// Starter is the starter's address (webhooks, callbacks).
func (p Ports) Starter() string { return p.addr(offStarter) }

// Codec is the starter's codec server address.
func (p Ports) Codec() string { return p.addr(offCodec) }

// Localbox is localbox's address.
func (p Ports) Localbox() string { return p.addr(offLocalbox) }

// MLEngine is mlengine's address.
func (p Ports) MLEngine() string { return p.addr(offMLEngine) }

// Vault is the tokenisation vault's address.
func (p Ports) Vault() string { return p.addr(offVault) }

// WorkerMetrics is the metrics address of filesight worker i (1-based).
func (p Ports) WorkerMetrics(i int) string { return p.addr(offWorkers + i - 1) }

// All lists every address of the block, in order.
func (p Ports) All() []string {
	out := make([]string, NumPorts)
	for i := range out {
		out[i] = p.addr(i)
	}
	return out
}

// FreePortBase finds a CLUSTER_PORT_BASE whose whole block is free now,
// for tests and benchmarks that run a cluster of their own: away from the
// default block (so that a developer's make cluster keeps running), below
// 32768 (see Validate) and so below the ephemeral ports Linux hands out.
func FreePortBase() (int, error) {
	for range 50 {
		base := freeport.Low + rand.IntN(maxPort-NumPorts-freeport.Low)
		free := true
		for _, addr := range (Ports{Base: base}).All() {
			if !freeport.Free(addr) {
				free = false
				break
			}
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free block of ports for a cluster between %d and %d", freeport.Low, maxPort)
}
