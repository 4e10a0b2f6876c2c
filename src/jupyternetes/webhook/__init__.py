"""The admission webhook: validates templates, instances and the objects the operator makes, against the restricted
floor and the Rego policies, and fills secure defaults into templates (`jupyternetes webhook`)."""
