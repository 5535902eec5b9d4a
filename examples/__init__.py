"""Examples to copy (a package only so that their module names are unique to mypy and pytest)."""
