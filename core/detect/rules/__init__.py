"""Stateless detection rules, one module per family, each exposing ``rules(batch, site)``: what one
batch shows, with no baseline (``core.detect.registry`` finds them; the engine folds the findings
into alerts). ``common`` holds what they share."""
