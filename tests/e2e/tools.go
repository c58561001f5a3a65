//go:build tools

// Package tools pins the binaries the end-to-end tests run, so that
// `go mod tidy` keeps their dependencies in go.sum. build.sh builds them.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
