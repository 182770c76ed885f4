// Command fakecri serves the upstream fake container runtime (k8s.io/cri-client/pkg/fake) on a
// unix socket, so that a real kubelet passes its runtime check, registers its Node and goes Ready
// without running any container. kubecert never touches containers; this only keeps kubelets alive.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cri-client/pkg/fake"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fakecri unix:///path/to/socket")
		os.Exit(2)
	}
	rt := fake.NewFakeRemoteRuntime()
	// The upstream fake reports pulled images with size 0, which the kubelet refuses ("Id or size
	// of image is not set"): no pod's containers could start. Static pods (renew --restart) need them.
	rt.ImageService.SetFakeImageSize(1 << 20)
	if err := rt.Start(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "fakecri:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	rt.Stop()
}
