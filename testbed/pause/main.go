// pause: the pod sandbox's process for testbed nodes backed by containerd (no registry here, so
// no registry.k8s.io/pause). It waits for SIGTERM or SIGINT and exits 0, as the upstream one does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
