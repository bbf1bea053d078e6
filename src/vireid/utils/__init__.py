"""Small shared utilities (atomic I/O, safe loading, devices, seeding)."""
