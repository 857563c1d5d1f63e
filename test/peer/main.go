// Command peer is the client-go side of elector's interoperability tests and benchmarks: one
// candidate using k8s.io/client-go/tools/leaderelection with a LeaseLock, exactly as a Go
// controller would, with the same status API as `elector agent` (`/` and `/leader`).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func main() {
	var (
		id            = flag.String("id", "", "candidate identity")
		name          = flag.String("election", "", "Lease name")
		namespace     = flag.String("namespace", "default", "Lease namespace")
		kubeconfig    = flag.String("kubeconfig", "", "kubeconfig file")
		addr          = flag.String("http", "", "status address host:port")
		leaseDuration = flag.Duration("lease-duration", 15*time.Second, "lease duration")
		renewDeadline = flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
		retryPeriod   = flag.Duration("retry-period", 2*time.Second, "retry period")
	)
	flag.Parse()
	logLine := func(msg string, fields map[string]any) {
		fields["msg"] = msg
		fields["time"] = time.Now().UTC().Format(time.RFC3339Nano)
		line, _ := json.Marshal(fields)
		fmt.Println(string(line))
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(2)
	}
	client := kubernetes.NewForConfigOrDie(config)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: *name, Namespace: *namespace},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *id},
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: true,
		Name:            *name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { logLine("started leading", map[string]any{"identity": *id}) },
			OnStoppedLeading: func() { logLine("stopped leading", map[string]any{"identity": *id}) },
			OnNewLeader:      func(leader string) { logLine("new leader observed", map[string]any{"leader": leader}) },
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(2)
	}
	if *addr != "" {
		status := func(w http.ResponseWriter, code int) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"is_leader": elector.IsLeader(),
				"leader":    elector.GetLeader(),
				"node":      *id,
				"timestamp": time.Now().UTC().Format(time.RFC3339),
				"name":      elector.GetLeader(),
			})
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { status(w, http.StatusOK) })
		mux.HandleFunc("/leader", func(w http.ResponseWriter, _ *http.Request) {
			if elector.IsLeader() {
				status(w, http.StatusOK)
			} else {
				status(w, http.StatusServiceUnavailable)
			}
		})
		go func() { _ = http.ListenAndServe(*addr, mux) }()
	}
	elector.Run(ctx)
	logLine("exiting", map[string]any{"identity": *id})
}
