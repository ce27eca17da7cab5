"""The ``sdqkd`` command line. Entry point: :func:`sdqkd.cli.app.main`."""
