"""Vulnerabilities: CSAF 2.0 advisories imported offline and matched against devices."""
