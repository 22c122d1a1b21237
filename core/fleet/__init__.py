"""The sensor fleet: activation codes, installation and opening-test dates reported from site."""
