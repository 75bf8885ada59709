// Command podlb stands in for a load balancer that targets pod IPs (an AWS
// ALB with target-type ip, or kube-proxy) in scripts/k8s-test.sh, where the
// test cluster has neither: it watches a Service's EndpointSlices through
// the API server and spreads requests round-robin over the endpoints that
// are ready and not terminating, as those would.
//
//	podlb -listen ADDR -kubeconfig-server URL -token-file F -ca F -namespace NS -service SVC -port NAME
//
// It adds X-Forwarded-For (Berth trusts it from the pod network's gateway)
// and never retries a failed request: a client sees what a real balancer
// would let through. Every upstream failure is logged and counted; SIGTERM
// prints the counts and exits.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type endpointSlices struct {
	Items []struct {
		Ports []struct {
			Name string `json:"name"`
			Port int    `json:"port"`
		} `json:"ports"`
		Endpoints []struct {
			Addresses  []string `json:"addresses"`
			Conditions struct {
				Ready       *bool `json:"ready"`
				Terminating *bool `json:"terminating"`
			} `json:"conditions"`
		} `json:"endpoints"`
	} `json:"items"`
}

type balancer struct {
	mu       sync.Mutex
	targets  []string // host:port
	next     int
	requests atomic.Int64
	failures atomic.Int64
}

func (b *balancer) pick() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.targets) == 0 {
		return "", false
	}
	t := b.targets[b.next%len(b.targets)]
	b.next++
	return t, true
}

func (b *balancer) set(targets []string) {
	slices.Sort(targets)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Equal(targets, b.targets) {
		log.Printf("targets: %v", targets)
		b.targets = targets
	}
}

func main() {
	listen := flag.String("listen", "", "address to listen on, host:port")
	server := flag.String("server", "", "API server URL")
	tokenFile := flag.String("token-file", "", "bearer token file")
	caFile := flag.String("ca", "", "API server CA file")
	ns := flag.String("namespace", "default", "namespace of the Service")
	svc := flag.String("service", "", "Service name")
	portName := flag.String("port", "http", "Service port name")
	flag.Parse()
	if *listen == "" || *server == "" || *svc == "" {
		log.Fatal("podlb: -listen, -server and -service are required")
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		log.Fatal(err)
	}
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	api := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	sliceURL := fmt.Sprintf("%s/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices?labelSelector=%s",
		strings.TrimRight(*server, "/"), url.PathEscape(*ns), url.QueryEscape("kubernetes.io/service-name="+*svc))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &balancer{}
	go func() {
		for ctx.Err() == nil {
			if targets, err := poll(ctx, api, sliceURL, strings.TrimSpace(string(token)), *portName); err != nil {
				log.Printf("endpointslices: %v", err)
			} else {
				b.set(targets)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			t, _ := r.In.Context().Value(targetKey{}).(string)
			r.SetURL(&url.URL{Scheme: "http", Host: t})
			r.Out.Host = r.In.Host // Berth sees the host the client asked for
			r.SetXForwarded()
		},
		FlushInterval: -1,
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.failures.Add(1)
			t, _ := r.Context().Value(targetKey{}).(string)
			log.Printf("upstream %s failed: %s %s: %v", t, r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.requests.Add(1)
			t, ok := b.pick()
			if !ok {
				b.failures.Add(1)
				log.Printf("no ready target for %s %s", r.Method, r.URL.Path)
				http.Error(w, "no ready target", http.StatusServiceUnavailable)
				return
			}
			proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
		})}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("listening on %s for %s/%s", *listen, *ns, *svc)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Printf("requests %d, upstream failures %d", b.requests.Load(), b.failures.Load())
}

type targetKey struct{}

func poll(ctx context.Context, c *http.Client, u, token, portName string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var es endpointSlices
	if err := json.NewDecoder(resp.Body).Decode(&es); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range es.Items {
		port := 0
		for _, p := range s.Ports {
			if p.Name == portName {
				port = p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			if !ready || terminating {
				continue
			}
			for _, a := range e.Addresses {
				out = append(out, net.JoinHostPort(a, fmt.Sprint(port)))
			}
		}
	}
	return out, nil
}
