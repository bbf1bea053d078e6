"""``python -m vireid`` entry point."""

from vireid.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
