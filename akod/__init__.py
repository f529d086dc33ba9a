"""akod: the Avi Kubernetes Operator as a single-process asyncio daemon.

It watches a Kubernetes cluster and keeps an Avi controller in step with it. The package is cut
into the layers of DESIGN.md (cli > daemon > statusd > sync > kube | avi | store > model > config);
`.importlinter` checks that each layer imports only the layers below it.
"""

__version__ = "0.1.0"
