"""The ``benchfarm`` command line: one module per subcommand group."""
