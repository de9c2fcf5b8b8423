package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestHTTP(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if err := HTTP(srv.URL)(ctx(t)); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: %v", err)
	}
	status = http.StatusOK
	if err := HTTP(srv.URL)(ctx(t)); err != nil {
		t.Errorf("200: %v", err)
	}
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := TCP(addr)(ctx(t)); err != nil {
		t.Errorf("listening: %v", err)
	}
	l.Close()
	if err := TCP(addr)(ctx(t)); err == nil {
		t.Error("closed port answered")
	}
}

func TestGRPCHealth(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(l)
	defer s.Stop()
	const name = "temporal.api.workflowservice.v1.HistoryService"
	check := GRPCHealth(l.Addr().String(), name)
	if err := check(ctx(t)); err == nil {
		t.Error("an unknown service counted as serving")
	}
	hs.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	if err := check(ctx(t)); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Errorf("not serving: %v", err)
	}
	hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	if err := check(ctx(t)); err != nil {
		t.Errorf("serving: %v", err)
	}
}
