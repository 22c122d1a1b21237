"""What leaves the core as files: CSV safe to open in a spreadsheet."""
