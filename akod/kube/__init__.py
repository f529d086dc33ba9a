"""Layer 3: the Kubernetes edge: list+watch with stored cursors, status patches, Events."""

from akod.kube.connection import open_api_client, resolve_kubeconfig
from akod.kube.events import post_event
from akod.kube.status import KubeWriter, ObjectApi
from akod.kube.trimming import trim_node
from akod.kube.watching import WatchSpec, WatchState, relist, run_watch

__all__ = ["KubeWriter", "ObjectApi", "WatchSpec", "WatchState", "open_api_client", "post_event", "relist",
           "resolve_kubeconfig", "run_watch", "trim_node"]
