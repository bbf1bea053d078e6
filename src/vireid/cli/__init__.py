"""Command-line interface: ``vireid <command>``; one module per command."""
