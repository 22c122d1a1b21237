"""Detection: baselines learned per tenant and sensor in data time, findings per batch at ingest,
alerts folded from findings, indicators, and forwarding to the customer's SIEM."""
