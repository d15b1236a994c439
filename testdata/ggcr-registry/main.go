// A registry with the OCI 1.1 referrers API, for cargo-slim's push tests:
// go-containerregistry's in-memory registry (pkg/registry, from Debian's
// golang-github-google-go-containerregistry-dev) with its referrers endpoint
// turned on. Debian's docker-registry (distribution 2.8) has no such API, so the
// two together cover both paths of a referrers push. Serves on 127.0.0.1 only.
//
// Built by .ci/run: GO111MODULE=off GOPATH=/usr/share/gocode go build -o
// target/tools/ggcr-registry ./testdata/ggcr-registry
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free one)")
	flag.Parse()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving on %s", l.Addr())
	s := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))),
	}
	log.Fatal(s.Serve(l))
}
