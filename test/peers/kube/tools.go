//go:build tools

// The kube-apiserver command is built straight from the kubernetes module; importing it here
// keeps it and its dependencies in go.mod and go.sum.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
