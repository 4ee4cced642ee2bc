// etcd as a test peer: the upstream server's own entry point, so flags and behaviour are etcd's.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
