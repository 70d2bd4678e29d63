"""The Kubernetes Python client's own exec-credential plugin loader, pointed at cosmoscope.

    python k8s_exec.py KUBECONFIG   -> prints the bearer token the client would send
"""
import sys

from kubernetes import client, config

configuration = client.Configuration()
config.load_kube_config(config_file=sys.argv[1], client_configuration=configuration)
token = configuration.api_key.get("BearerToken", "")
if not token:
    sys.exit("the exec plugin gave no token")
print(token.removeprefix("Bearer "))
