"""The ``cosell`` command line: every click command, listed in :mod:`cosell.cli.main`."""
