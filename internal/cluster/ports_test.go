package cluster

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestDefaultPortsStayClearOfMakeUpAndEphemeralPorts(t *testing.T) {
	makeUp := []string{"7233", "8233", "8088", "8081", "8700", "8710", "9090"}
	seen := map[string]bool{}
	for _, addr := range (Ports{}).All() {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q", addr)
		}
		if seen[port] {
			t.Errorf("port %s used twice", port)
		}
		seen[port] = true
		for _, p := range makeUp {
			if port == p {
				t.Errorf("port %s is one of make up's", port)
			}
		}
		if n, _ := strconv.Atoi(port); n >= 32768 {
			t.Errorf("port %d lies in the kernel's ephemeral range", n)
		}
	}
	if len(seen) != NumPorts {
		t.Errorf("%d ports, want %d", len(seen), NumPorts)
	}
}

func TestPortsFollowTheBase(t *testing.T) {
	p := Ports{Base: 20000}
	for _, tt := range []struct{ got, want string }{
		{p.Postgres(), "127.0.0.1:20000"},
		{p.GRPC(Frontend), "127.0.0.1:20001"},
		{p.FrontendHTTP(), "127.0.0.1:20002"},
		{p.GRPC(History), "127.0.0.1:20003"},
		{p.Membership(Worker), "127.0.0.1:20009"},
		{p.Metrics(Frontend), "127.0.0.1:20010"},
		{p.UI(), "127.0.0.1:20014"},
		{p.Starter(), "127.0.0.1:20015"},
		{p.MLEngine(), "127.0.0.1:20018"},
		{p.WorkerMetrics(1), "127.0.0.1:20019"},
		{p.WorkerMetrics(MaxWorkers), "127.0.0.1:20028"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestPortsValidate(t *testing.T) {
	for _, tt := range []struct {
		base int
		ok   bool
	}{{DefaultPortBase, true}, {1024, true}, {32767 - NumPorts + 1, true}, {1023, false}, {32767 - NumPorts + 2, false}, {40000, false}, {0, false}} {
		err := Ports{Base: tt.base}.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("base %d: %v", tt.base, err)
		}
		if err != nil && !strings.Contains(err.Error(), "CLUSTER_PORT_BASE") {
			t.Errorf("base %d: error does not name the variable: %v", tt.base, err)
		}
	}
}
