"""Statistics across every tenant for the provider's data team (k-anonymous; issue 13)."""
