"""Small shared helpers: atomic output files, seeding, device choice, progress bars, provenance."""
