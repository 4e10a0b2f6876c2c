"""The operator: renders JupyterNotebookInstances into PVCs, pods and other resources (run as
`jupyternetes operator`)."""
