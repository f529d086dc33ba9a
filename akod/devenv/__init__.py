"""A real kube-apiserver + etcd on loopback for the tests and the demo (built from Debian packages)."""
