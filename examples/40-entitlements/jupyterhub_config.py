# The hub's side (with Zero to JupyterHub: hub.extraConfig). Groups come from the authenticator; here they are set
# by hand. The spawn page offers each user only the profiles the entitlements allow; any other start is refused.
c = get_config()  # noqa: F821 - JupyterHub's configuration object
c.JupyterHub.load_groups = {"gpu-researchers": {"users": ["grace"]}}
c.JupyternetesSpawner.entitlements_configmap = "jupyternetes-entitlements"  # the chart's <release>-entitlements
c.JupyternetesSpawner.profile_list = [
    {"display_name": "Notebook", "slug": "notebook", "template": "jupyter-notebook", "template_namespace": "kadense",
     "default": True},
    {"display_name": "GPU notebook", "slug": "gpu", "template": "gpu-notebook", "template_namespace": "kadense"},
]
